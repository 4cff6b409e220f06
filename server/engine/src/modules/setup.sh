# Cairn's fact gathering: one run of this script per host, parsed by setup.rs.
# POSIX sh only (dash, busybox): no bashisms, no Python. Every line is `key=value`;
# a probe that fails prints nothing (or an empty value) and its fact is simply absent.
LC_ALL=C
export LC_ALL
kv() { printf '%s=%s\n' "$1" "$2"; }
has() { command -v "$1" >/dev/null 2>&1; }
# A probe that can block (DNS for hostname -f, a dead NFS mount for df) gets a time limit when
# coreutils' timeout is there, so gathering cannot hang the play.
limit() { if has timeout; then timeout "$@"; else shift; "$@"; fi; }

kv nodename "$(uname -n 2>/dev/null)"
kv fqdn "$(limit 3 hostname -f 2>/dev/null || uname -n 2>/dev/null)"
kv kernel "$(uname -r 2>/dev/null)"
kv architecture "$(uname -m 2>/dev/null)"
[ -r /etc/machine-id ] && kv machine_id "$(cat /etc/machine-id 2>/dev/null)"
kv user_id "$(id -un 2>/dev/null)"

# Distribution: os-release first (values keep their quotes; Rust strips them).
if [ -r /etc/os-release ]; then
  while IFS= read -r line; do
    case $line in
      ID=*|ID_LIKE=*|NAME=*|VERSION=*|VERSION_ID=*|VERSION_CODENAME=*) printf 'os_%s\n' "$line" ;;
    esac
  done < /etc/os-release
fi
# Debian's point release (12.5) is only here, as Ansible reports it.
[ -r /etc/debian_version ] && kv debian_version "$(cat /etc/debian_version 2>/dev/null)"

if [ -r /proc/meminfo ]; then
  while read -r k v _; do
    case $k in
      MemTotal:|MemFree:|SwapTotal:) printf 'mem_%s=%s\n' "${k%:}" "$v" ;;
    esac
  done < /proc/meminfo
fi
if [ -r /proc/cpuinfo ]; then
  kv cpu_processors "$(grep -c '^processor' /proc/cpuinfo 2>/dev/null)"
  kv cpu_cores "$(sed -n 's/^cpu cores[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n 1)"
fi
has nproc && kv nproc "$(nproc 2>/dev/null)"
[ -r /proc/uptime ] && kv uptime "$(cut -d ' ' -f 1 /proc/uptime 2>/dev/null)"

# Network: addresses from iproute2 when present; the default route from /proc.
if has ip; then
  ip -o -4 addr show 2>/dev/null | while IFS= read -r line; do kv addr "$line"; done
  ip -4 route show default 2>/dev/null | while IFS= read -r line; do kv route "$line"; done
elif has hostname; then
  kv addrs "$(hostname -I 2>/dev/null)"
fi

# Mounts: /proc/mounts for device and type, df for sizes.
if [ -r /proc/mounts ]; then
  while IFS= read -r line; do kv mnt "$line"; done < /proc/mounts
fi
limit 10 df -P -k 2>/dev/null | while IFS= read -r line; do kv df "$line"; done

[ -r /proc/1/comm ] && kv init "$(cat /proc/1/comm 2>/dev/null)"
[ -d /run/systemd/system ] && kv systemd_booted yes
for p in apt-get dnf yum zypper apk pacman; do
  has "$p" && kv pkg "$p"
done

# Virtualization: systemd-detect-virt knows best; otherwise container markers.
if has systemd-detect-virt; then
  kv virt "$(systemd-detect-virt 2>/dev/null)"
fi
[ -r /run/systemd/container ] && kv container "$(cat /run/systemd/container 2>/dev/null)"
if [ -r /proc/1/environ ]; then
  # Readable by root only: silent for other users (the markers below still apply).
  kv container_env "$(tr '\000' '\n' 2>/dev/null < /proc/1/environ | sed -n 's/^container=//p' | head -n 1)"
fi
[ -e /.dockerenv ] && kv dockerenv yes
[ -e /run/.containerenv ] && kv containerenv yes

kv date "$(date '+%s %Y-%m-%d %H:%M:%S %Z' 2>/dev/null)"
kv date_utc "$(date -u '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null)"

[ -n "${PATH+x}" ] && kv env_PATH "$PATH"
[ -n "${HOME+x}" ] && kv env_HOME "$HOME"
[ -n "${SHELL+x}" ] && kv env_SHELL "$SHELL"
[ -n "${LANG+x}" ] && kv env_LANG "$LANG"
[ -n "${USER+x}" ] && kv env_USER "$USER"

for py in python3 python; do
  if has "$py"; then kv python "$(command -v "$py")"; break; fi
done
if [ -d /sys/fs/selinux ] && [ -r /sys/fs/selinux/enforce ]; then
  kv selinux "$(cat /sys/fs/selinux/enforce 2>/dev/null)"
fi
exit 0
