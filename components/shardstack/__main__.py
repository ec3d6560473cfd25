"""``python -m shardstack``: the component package's provider, as the Pulumi CLI runs it for
``pulumi package add`` (PulumiPlugin.yaml; the ``shardstack`` command is the CLI)."""

from shardstack.provider import main

if __name__ == "__main__":
    main()
