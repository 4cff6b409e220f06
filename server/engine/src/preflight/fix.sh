# Cairn's `preflight --fix`: the safe remedies only, each idempotent (a second run changes
# nothing). POSIX sh; run as root. Arguments are actions, planned by fix.rs:
#   sysctl NAME VALUE   set now (/proc/sys) and persist in /etc/sysctl.d/90-cairn.conf
#   module NAME         modprobe, and list it in /etc/modules-load.d/cairn.conf
#   swapoff             swapoff -a (never planned in a container: that swap is the machine's)
#   fstab               comment out /etc/fstab's swap lines (backup /etc/fstab.cairn-bak)
#   chrony ADDR PORT    point chrony at the installer's NTP server, restart it, wait a little
# Each action reports one line: `@ID|changed|what was done`, `@ID|ok|why nothing was needed`
# or `@ID|failed|why`. The file names are the ones the install's roles use (role base, chrony).
LC_ALL=C
export LC_ALL
say() { printf '@%s|%s|%s\n' "$1" "$2" "$3"; }
has() { command -v "$1" >/dev/null 2>&1; }
SYSCTL_FILE=/etc/sysctl.d/90-cairn.conf
MODULES_FILE=/etc/modules-load.d/cairn.conf
FSTAB_SWAP='^[^#].*[[:space:]]swap[[:space:]]'

fix_sysctl() {
  n=$1 v=$2 id="sysctl:$1"
  f=/proc/sys/$(printf '%s' "$n" | tr . /)
  if [ ! -e "$f" ]; then say "$id" failed "not present on this kernel (its module is not loaded)"; return; fi
  old=$(cat "$f" 2>/dev/null)
  now=''
  if [ "$old" != "$v" ]; then
    if ! { printf '%s\n' "$v" > "$f"; } 2>/dev/null || [ "$(cat "$f" 2>/dev/null)" != "$v" ]; then
      say "$id" failed "cannot write $f (read-only here: it is the host machine's kernel setting)"
      return
    fi
    now="set $old -> $v"
  fi
  re=$(printf '%s' "$n" | sed 's/[.]/[.]/g')
  kept=''
  if grep -qsE "^[[:space:]]*$re[[:space:]]*=[[:space:]]*$v[[:space:]]*\$" "$SYSCTL_FILE"; then
    kept=''
  elif grep -qsE "^[[:space:]]*$re[[:space:]]*=" "$SYSCTL_FILE"; then
    sed "s|^[[:space:]]*$re[[:space:]]*=.*|$n=$v|" "$SYSCTL_FILE" > "$SYSCTL_FILE.cairn-tmp" &&
      cat "$SYSCTL_FILE.cairn-tmp" > "$SYSCTL_FILE" && rm -f "$SYSCTL_FILE.cairn-tmp"
    kept="persisted in $SYSCTL_FILE"
  else
    mkdir -p "${SYSCTL_FILE%/*}"
    [ -s "$SYSCTL_FILE" ] || printf '# Managed by Cairn (role base; cairn preflight --fix): kernel settings.\n' > "$SYSCTL_FILE"
    printf '%s=%s\n' "$n" "$v" >> "$SYSCTL_FILE"
    kept="persisted in $SYSCTL_FILE"
  fi
  if [ -z "$now$kept" ]; then say "$id" ok "already $v and persisted in $SYSCTL_FILE"; return; fi
  say "$id" changed "$(printf '%s' "${now:-already $v}${kept:+; $kept}")"
}

fix_module() {
  m=$1 id="module:$1" now='' kept=''
  if grep -q "^$m " /proc/modules 2>/dev/null || [ -d "/sys/module/$m" ]; then
    :
  elif err=$(modprobe "$m" 2>&1); then
    now="loaded"
  else
    say "$id" failed "modprobe $m: ${err:-failed}"
    return
  fi
  if ! grep -qsx "$m" "$MODULES_FILE"; then
    mkdir -p "${MODULES_FILE%/*}"
    [ -s "$MODULES_FILE" ] || printf '# Managed by Cairn (role base; cairn preflight --fix): loaded at boot by systemd-modules-load.\n' > "$MODULES_FILE"
    printf '%s\n' "$m" >> "$MODULES_FILE"
    kept="listed in $MODULES_FILE"
  fi
  if [ -z "$now$kept" ]; then say "$id" ok "already loaded and listed in $MODULES_FILE"; return; fi
  say "$id" changed "${now:-already loaded}${kept:+; $kept}"
}

fix_swapoff() {
  before=$(tail -n +2 /proc/swaps 2>/dev/null | wc -l)
  if [ "$before" -eq 0 ]; then say swap ok "no swap active"; return; fi
  if err=$(swapoff -a 2>&1); then
    say swap changed "swapoff -a: $before swap area(s) turned off"
  else
    say swap failed "swapoff -a: $err"
  fi
}

fix_fstab() {
  n=$(grep -cE "$FSTAB_SWAP" /etc/fstab 2>/dev/null)
  if [ "${n:-0}" -eq 0 ]; then say swap_fstab ok "no swap line in /etc/fstab"; return; fi
  [ -e /etc/fstab.cairn-bak ] || cp -p /etc/fstab /etc/fstab.cairn-bak
  # Rewritten in place (cat >), so the file keeps its owner, mode and inode.
  if sed "s/\\($FSTAB_SWAP.*\\)\$/# \\1  # swap off: Cairn (preflight --fix)/" /etc/fstab > /etc/fstab.cairn-tmp &&
    cat /etc/fstab.cairn-tmp > /etc/fstab; then
    rm -f /etc/fstab.cairn-tmp
    say swap_fstab changed "commented out $n swap line(s) in /etc/fstab (backup: /etc/fstab.cairn-bak)"
  else
    rm -f /etc/fstab.cairn-tmp
    say swap_fstab failed "could not rewrite /etc/fstab"
  fi
}

fix_chrony() {
  a=$1 port=$2
  conf=/etc/chrony/chrony.conf
  [ -f "$conf" ] || conf=/etc/chrony.conf
  if [ ! -f "$conf" ]; then say time_sync failed "chrony is not configured here (no chrony.conf)"; return; fi
  line="server $a port $port iburst"
  if grep -qsE '^[[:space:]]*sourcedir[[:space:]]+/etc/chrony/sources.d' "$conf"; then
    f=/etc/chrony/sources.d/cairn.sources
    want=$(printf '# Managed by Cairn (cairn preflight --fix): the installer'"'"'s NTP server.\n%s' "$line")
    if [ "$(cat "$f" 2>/dev/null)" = "$want" ]; then
      wrote=''
    else
      mkdir -p /etc/chrony/sources.d && printf '%s\n' "$want" > "$f.cairn-tmp" && mv "$f.cairn-tmp" "$f"
      wrote="wrote $f ($line)"
    fi
  elif grep -qsxF "$line" "$conf"; then
    wrote=''
  else
    printf '%s\n%s\n' "# Added by Cairn (cairn preflight --fix): the installer's NTP server." "$line" >> "$conf"
    wrote="added \"$line\" to $conf"
  fi
  svc=chrony
  has systemctl && ! systemctl cat chrony >/dev/null 2>&1 && systemctl cat chronyd >/dev/null 2>&1 && svc=chronyd
  if [ -z "$wrote" ] && systemctl is-active --quiet "$svc" 2>/dev/null; then
    restarted=''
  elif err=$(systemctl restart "$svc" 2>&1); then
    restarted="; restarted $svc"
  else
    say time_sync failed "${wrote:+$wrote; }systemctl restart $svc: $err"
    return
  fi
  # iburst gets a first answer within seconds; wait up to ~20 s for chronyd to select it.
  if has chronyc && chronyc waitsync 20 0 0 1 >/dev/null 2>&1; then sync="synchronised"; else sync="not synchronised yet"; fi
  if [ -z "$wrote$restarted" ]; then
    say time_sync ok "chrony already points at $a port $port ($sync)"
  else
    say time_sync changed "${wrote:-chrony already pointed at $a port $port}$restarted; $sync"
  fi
}

while [ $# -gt 0 ]; do
  case $1 in
    sysctl) fix_sysctl "$2" "$3"; shift 3 ;;
    module) fix_module "$2"; shift 2 ;;
    swapoff) fix_swapoff; shift ;;
    fstab) fix_fstab; shift ;;
    chrony) fix_chrony "$2" "$3"; shift 3 ;;
    *) say "$1" failed "unknown action"; shift ;;
  esac
done
exit 0
