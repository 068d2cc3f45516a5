"""`swarm stack`: Compose files deployed as stacks (docker/cli ``cli/command/stack``).

The pipeline, one module per step, nothing written before the last one:

    load.py     read the files (``-`` is stdin), ``.env`` beside the first one, interpolation,
                merge of several ``-c`` files as Compose merges them
    schema.py   validation against the Compose Specification's JSON Schema (``compose-spec/``),
                errors naming the key path
    convert.py  Compose -> ServiceSpec / NetworkSpec / SecretSpec / ConfigSpec, one function per
                object (a service in servicemap.py, its mounts, references, ports and
                networks in attachments.py; context.py the labels and StackContext they
                share), refusals and warnings for keys Swarm does not take
    deploy.py   the plan (everything validated and converted, external objects looked up, port
                conflicts found) and then its writes: networks, secrets, configs, services

Every error is a :class:`~swarm.cli.client.CLIError`, so the CLI prints one line and exits 1.
"""
