# Cairn's pre-flight probe: what setup.sh does not already gather, for the checks in checks.rs.
# POSIX sh only (dash, busybox); every line is `key=value`; a probe that cannot run prints
# nothing and its check says what it could not see. Arguments (positional, set by probe.rs):
#   $1 repo URL to fetch from the host ('' = none)
#   $2 space-separated paths whose disk space matters (each measured at its nearest existing
#      ancestor)
#   $3 space-separated kernel modules     $4 space-separated sysctls (dotted names)
#   $5 space-separated COMPONENT=FILE: files where Cairn's roles leave "Managed by Cairn"
#   $6 a directory whose disk the fsync probe measures ('' = no probe)   $7 how many writes
LC_ALL=C
export LC_ALL
kv() { printf '%s=%s\n' "$1" "$2"; }
has() { command -v "$1" >/dev/null 2>&1; }
limit() { if has timeout; then timeout "$@"; else shift; "$@"; fi; }
repo=$1 paths=$2 modules=$3 sysctls=$4 marks=$5 fsync_dir=$6 fsync_n=${7:-0}

kv uid "$(id -u 2>/dev/null)"
kv hostname "$(hostname 2>/dev/null || uname -n 2>/dev/null)"

# Swap: the active swap areas (the header line is skipped).
if [ -r /proc/swaps ]; then
  tail -n +2 /proc/swaps 2>/dev/null | while read -r dev _ size _; do kv swap "$dev $size"; done
fi
grep -E '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab 2>/dev/null | while IFS= read -r l; do kv fstab_swap "$l"; done

# Disk: free and total KiB at each path's nearest existing ancestor.
for p in $paths; do
  q=$p
  while [ ! -e "$q" ] && [ "$q" != / ]; do q=$(dirname "$q"); done
  limit 10 df -P -k "$q" 2>/dev/null | tail -n 1 | while read -r _ total used avail _ mnt; do
    kv disk "$p $q $total $used $avail $mnt"
  done
done

# Listening TCP sockets with their processes (ss shows processes to root).
if has ss; then
  ss -H -l -t -n -p 2>/dev/null | while IFS= read -r l; do kv listen "$l"; done
fi

# Kernel modules: loaded, built in, or loadable (modprobe -n resolves without loading).
for m in $modules; do
  state=missing
  if grep -q "^$m " /proc/modules 2>/dev/null; then state=loaded
  elif grep -q "/$m\.ko" "/lib/modules/$(uname -r)/modules.builtin" 2>/dev/null; then state=builtin
  elif [ -d "/sys/module/$m" ]; then state=builtin
  elif has modprobe && modprobe -n "$m" >/dev/null 2>&1; then state=loadable
  # What the module provides, visible even in a container whose kernel is the machine's.
  elif [ "$m" = overlay ] && grep -qw overlay /proc/filesystems 2>/dev/null; then state=in-effect
  elif [ "$m" = br_netfilter ] && [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then state=in-effect
  fi
  kv module "$m $state"
done

for s in $sysctls; do
  f=/proc/sys/$(printf '%s' "$s" | tr . /)
  if [ -r "$f" ]; then kv sysctl "$s $(cat "$f" 2>/dev/null)"; else kv sysctl "$s -"; fi
done

# cgroups: the filesystem type of /sys/fs/cgroup (cgroup2fs = v2) and v2's controllers.
kv cgroup_fs "$(stat -f -c %T /sys/fs/cgroup 2>/dev/null)"
[ -r /sys/fs/cgroup/cgroup.controllers ] && kv cgroup_controllers "$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)"

# Time synchronisation: which service runs, and whether the clock says it is synchronised.
# One systemctl for all of them (a line per unit, in order).
svcs='chrony chronyd ntp ntpd ntpsec systemd-timesyncd ptp4l phc2sys' other=''
if has systemctl; then
  # shellcheck disable=SC2086 # one word per state
  set -- $(systemctl is-active $svcs 2>/dev/null)
  for svc in $svcs; do
    if [ "${1:-}" = active ]; then
      kv timesvc "$svc"
      case $svc in chrony|chronyd) ;; *) other=yes ;; esac
    fi
    [ $# -gt 0 ] && shift
  done
fi
# chrony says whether it is synchronised itself (below); another service: ask systemd (which
# starts systemd-timedated over D-Bus for it: not done when it would not be used).
[ -n "$other" ] && has timedatectl && kv ntp_synced "$(limit 5 timedatectl show -p NTPSynchronized --value 2>/dev/null)"
has chronyc && kv chrony_leap "$(limit 5 chronyc -n tracking 2>/dev/null | sed -n 's/^Leap status *: *//p')"
# chrony's sources (`^* 10.0.0.1 ...`: mode/state, then the address), and whether it is there.
if has chronyc; then
  limit 5 chronyc -n sources 2>/dev/null | grep -E '^[=^#]' | while read -r ms addr _; do kv chrony_source "$ms $addr"; done
fi
{ has chronyd || [ -x /usr/sbin/chronyd ]; } && kv chrony_installed yes

# Security layers that change what an install may do.
[ -r /sys/fs/selinux/enforce ] && kv selinux "$(cat /sys/fs/selinux/enforce 2>/dev/null)"
has systemctl && systemctl is-active --quiet firewalld 2>/dev/null && kv firewalld active

# Something installed already (it would be upgraded or left).
for b in etcd kubelet kube-apiserver kubeadm containerd; do
  has "$b" && kv installed "$b $(command -v "$b")"
done
[ -d /var/lib/etcd/member ] && kv installed "etcd-data /var/lib/etcd/member"
[ -d /etc/kubernetes/manifests ] && kv installed "kube-manifests /etc/kubernetes/manifests"
# Cairn's own marks: which components Cairn's roles installed here (a re-install finds them).
for cf in $marks; do
  grep -qs 'Managed by Cairn' "${cf#*=}" && kv mark "${cf%%=*}"
done

# etcd's disk: the latency of small synchronous writes (O_DSYNC: each write waits for the
# data to reach the disk, as etcd's WAL fdatasync does). dd reports each copy's own time,
# without its start-up, so the samples are the writes, not the forks.
if [ -n "$fsync_dir" ] && [ "$fsync_n" -gt 0 ] 2>/dev/null; then
  q=$fsync_dir
  while [ ! -d "$q" ] && [ "$q" != / ]; do q=$(dirname "$q"); done
  f="$q/.cairn-fsync-probe.$$"
  i=0 samples=''
  while [ "$i" -lt "$fsync_n" ]; do
    t=$(dd if=/dev/zero of="$f" bs=2300 count=1 seek="$i" conv=notrunc oflag=dsync 2>&1 >/dev/null | sed -n 's/.* copied, \([0-9.e+-]*\) s.*/\1/p')
    [ -n "$t" ] || { samples="error"; break; }
    samples="$samples $t"
    i=$((i + 1))
  done
  rm -f "$f"
  kv fsync "$q$samples"
fi

# The installer's repository, fetched from this host with whatever it has (curl, wget, or the
# perl that Debian's minimal base always carries): the HTTP status line, or why not.
if [ -n "$repo" ]; then
  if has curl; then
    kv repo "curl $(limit 10 curl -s -o /dev/null -w '%{http_code}' --max-time 8 "$repo" 2>&1)"
  elif has wget; then
    if limit 10 wget -q -T 8 -O /dev/null "$repo" 2>/dev/null; then kv repo "wget 200"; else kv repo "wget failed"; fi
  elif has perl; then
    kv repo "perl $(limit 10 perl -MIO::Socket::INET -e '
      my ($h, $p, $path) = $ARGV[0] =~ m{^http://([^/:]+)(?::(\d+))?(/.*)?$} or do { print "bad-url"; exit };
      my $s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $p || 80, Timeout => 8) or do { print "connect: $!"; exit };
      print $s "GET " . ($path || "/") . " HTTP/1.0\r\nHost: $h\r\n\r\n";
      my $line = <$s>; $line =~ m{^HTTP/\S+ (\d+)} ? print $1 : print "no-http";' "$repo" 2>&1)"
  else
    kv repo "none"
  fi
fi
ip -4 route show default 2>/dev/null | while IFS= read -r l; do kv default_route "$l"; done
