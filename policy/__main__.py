"""The Shardstack policy pack: `pulumi preview --policy-pack policy` (the Pulumi CLI), or offline
`shardstack plan STACK --policy policy`. The rules are in shardstack_policies.py."""

from pulumi_policy import EnforcementLevel, PolicyPack
from shardstack_policies import POLICIES

PolicyPack(
    name="shardstack",
    description="Shardstack's safe defaults for any Pulumi program: private, encrypted, versioned weight buckets; "
    "no Kubernetes API open to the internet; node metadata out of pods' reach; restricted pods; bounded GPU pools.",
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
)
