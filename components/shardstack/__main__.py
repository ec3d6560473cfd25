"""``python -m shardstack``: the component package's provider when the Pulumi engine starts it (its first argument
is the engine's ``host:port``; PulumiPlugin.yaml), else the ``shardstack`` command (``python -m shardstack plan
local`` is ``shardstack plan local``)."""

import re
import sys

ENGINE_ADDRESS = re.compile(r"[\w.\-\[\]:]+:\d+")
"""How the engine's address looks (127.0.0.1:40405, [::1]:40405, localhost:40405); no command does."""

if __name__ == "__main__":
    if len(sys.argv) > 1 and ENGINE_ADDRESS.fullmatch(sys.argv[1]):
        from shardstack.provider import main

        main()
    else:
        from shardstack.cli import main

        sys.exit(main())
