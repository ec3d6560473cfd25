"""Weight bytes: a checkpoint in object storage, its manifest, and the verified reads of a rank's tensors.

    ckpt = open_checkpoint("s3://weights/smollm2")                  # .checkpoint: headers only
    report = load_tensors(ckpt, dict(my_layers.named_parameters()))  # .loader: the rank's tensors, verified

The modules, each importing at run time only those before it: :mod:`.storage` (a URI's filesystem
and ranged reads), :mod:`.hashing` (in-order hashes of out-of-order pieces), :mod:`.fetch`
(concurrent ranged reads, hashed as they arrive), :mod:`.manifest` (the ``shardstack-manifest.json``
format), :mod:`.checkpoint` (a checkpoint directory through its safetensors headers), :mod:`.loader`
(a rank's tensors, checked against the manifest), :mod:`.verify` (a manifest built for a checkpoint,
a checkpoint checked against its manifest) and :mod:`.cli`
(``shardstack-runtime weights push|verify``). Import from the modules: this package re-exports nothing.
"""
