"""The network-namespace testbed behind `deploy/testbed`.

Layout of the package, one concern per module:

    errors    TestbedError: the one exception; the CLI prints it as one line, exit 1 (2 for usage)
    config    names, addresses and paths derived from a prefix; the state file (testbed.json)
    sh        running external commands (ip, nsenter, ...) with clear errors
    procs     /proc helpers: liveness, start times, namespace identity, recorded PID files
    net       underlay bridge, netns, veths, the root-namespace safety routes
    hosts     per-host holder process (mount+UTS ns), swarmd start/stop, infra commands
    bed       up / down / status: the lifecycle of a whole testbed
    formswarm the hook `up --form-swarm` calls (swarm init/join), not implemented yet
    cli       argparse front end

Picture (prefix "swtb", defaults):

    root netns:  bridge swtb0 (no address)  + unreachable routes for 10.231.0.0/24, 10.0.0.0/8, 172.18.0.0/16
                   |-- veth swtb-infra <-> eth0 in netns swtb-infra  10.231.0.1  (registry etc.)
                   |-- veth swtb-mgr1  <-> eth0 in netns swtb-mgr1   10.231.0.11 (swarmd)
                   `-- veth swtb-wkr1  <-> eth0 in netns swtb-wkr1   10.231.0.12 (swarmd)

Each host's swarmd runs in the host's netns plus a mount+UTS namespace kept alive by a tiny
"holder" process (`sleep infinity`), so the daemon can be killed and restarted in the same
namespaces and `exec` enters exactly what the daemon sees.
"""
