"""The VM testbed behind `deploy/vmtestbed`: real Debian 12 VMs under qemu, built offline.

One concern per module:

    config    names, addresses, paths; the state file (vmtestbed.json)
    sh        running external commands with one-line errors (TestbedError from swtb)
    image     `build`: mmdebstrap root filesystem (cached), the project installed into it by
              deploy/provision.sh, an ssh key, a qcow2 image + kernel + initrd, keyed by a hash
    net       the testbed's own netns with a bridge and one tap per VM; root-namespace
              `unreachable` safety routes (the same rule and helpers as deploy/swtb/net.py)
    vm        qemu processes: boot from a copy-on-write overlay, ready marker on the serial
              console, the monitor (savevm/loadvm, power off, link cut)
    ssh       commands into VMs (one ssh ControlMaster per VM, run inside the netns)
    cli       argparse front end: build | up N | ssh NAME [-- CMD] | down | ls

Picture (defaults):

    root netns:  unreachable 10.231.0.0/24, 10.0.0.0/8, 172.18.0.0/16 proto 231 metric <from "vmtb">
    netns vmtb:  bridge vmtb0 10.231.0.1/24 (registry, ssh client)  -- no uplink, no default route
                   |-- tap vmtb-t1 <-> qemu vm1 eth0 10.231.0.11
                   `-- tap vmtb-t2 <-> qemu vm2 eth0 10.231.0.12
"""
