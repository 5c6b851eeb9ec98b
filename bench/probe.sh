# bench/probe.sh: the SSH floor. Read, in one round trip, the state bootstrap-node checks on a
# host and print it (the method of ansible-baseline.md appendix C, for our paths). run.sh runs
# it as `ssh -F <lab ssh_config> -l <automation user> HOST 'sudo -n sh -s' < probe.sh`, on
# every host at once. Nothing is compared: this is the cost of one observation round trip.
LC_ALL=C; export LC_ALL
U=homelab
F="/home/$U/.ssh/authorized_keys /etc/sudoers.d/homelab-iac /etc/ssh/sshd_config.d/00-homelab-iac.conf
/etc/apt/sources.list.d/proxmox.sources /etc/apt/sources.list.d/ceph.sources
/etc/apt/sources.list.d/pve-enterprise.sources /etc/hostname /etc/timezone
/etc/chrony/sources.d/homelab-iac.sources /var/lib/homelab-iac/sshd-dropin.proven"
echo "== user";   getent passwd $U; id -Gn $U
echo "== stat";   stat -c '%n|%F|%a|%U|%G|%s|%N' /home/$U /home/$U/.ssh $F /etc/localtime /etc/hosts \
                    /etc/gai.conf /etc/chrony/sources.d /var/lib/homelab-iac 2>&1
echo "== content"; cat $F 2>&1
echo "== hosts";  cat /etc/hosts
echo "== gai";    cat /etc/gai.conf 2>&1
echo "== marker"; cat /var/lib/homelab-iac/*.done 2>&1
echo "== hostname"; hostname
echo "== pkgs";   dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' sudo rsync attr psmisc corosync-qnetd 2>&1
echo "== sshd -T"; sshd -T 2>&1
echo "== end"
