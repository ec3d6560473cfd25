"""The ``pulumi new`` templates (``templates/shardstack-<target>``): what each asks for, and reading the answers.

A template's program is a few lines over the published package::

    from shardstack.aws import AwsInstallation, AwsInstallationArgs
    from shardstack.template_config import TemplateSettings

    settings = TemplateSettings.read("shardstack-aws")
    AwsInstallation(pulumi.get_project(), AwsInstallationArgs(
        cluster=settings.cluster(), gpu_pools=[NamedGpuPool(name="gpu", **settings.gpu_pool())],
        **settings.serving()))

Each key is declared here once: ``scripts/generate_specs.py`` writes every template's ``Pulumi.yaml`` (its
``template.config`` prompts, with these descriptions and defaults) and ``requirements.txt`` from
:data:`TEMPLATES`, and :meth:`TemplateSettings.read` reads the same keys back, refusing bad answers with the
key, the value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from shardstack.catalog import GPUS
from shardstack.cidr import cidr_reason
from shardstack.defaults import DEFAULT_IMAGE, DEMO_MODEL_PATH
from shardstack.errors import ConfigError, did_you_mean
from shardstack.installation_args import ClusterAccess, InstallationInference, InstallationServing
from shardstack.limits import SHARDS
from shardstack.pool_args import GpuPoolArgs

__all__ = ["TEMPLATES", "Template", "TemplateKey", "TemplateSettings"]


@dataclass(frozen=True)
class TemplateKey:
    """One prompt of ``pulumi new``: a config key (bare keys land in the project's namespace), what it means, and
    its default (None: the user must answer)."""

    key: str
    description: str
    default: str | None = None


GPU = "gpu"


def _offered(cloud: str) -> list[str]:
    """The catalogue's GPUs that ``cloud`` rents."""
    return sorted(name for name, gpu in GPUS.items() if cloud in gpu.clouds)


def _gpu_key(cloud: str, default: str) -> TemplateKey:
    offered = ", ".join(_offered(cloud))
    return TemplateKey(GPU, f"GPU model of the GPU pool, one of the catalogue's GPUs offered here: {offered}", default)


SHARDS_KEY = TemplateKey(
    "shards",
    f"Ranks per copy of the model, each holding a slice of the layers (on the clouds, each on a GPU node of its "
    f"own; {SHARDS.allowed})",
    "2",
)
AUTHORIZED_NETWORKS = TemplateKey(
    "authorizedNetworks",
    "CIDR blocks allowed to reach the Kubernetes API, comma-separated (e.g. 203.0.113.0/24); empty keeps the API "
    "private, reachable only from inside the cluster's network",
    "",
)


MODEL_URI = "modelUri"


def _model_key(schemes: str, default: str = f"{DEMO_MODEL_PATH}/") -> TemplateKey:
    return TemplateKey(
        MODEL_URI,
        f"Where the weights are: a full URI ({schemes}), or a path inside this installation's weight store, where "
        "`shardstack-runtime weights push` puts a checkpoint (the default: the demo model, SmolLM2-135M-Instruct)",
        default,
    )


KUBE_CONTEXT = TemplateKey("kubeContext", "The kubeconfig context to deploy into; empty: the current one", "")


@dataclass(frozen=True)
class Template:
    """One template directory: ``templates/<name>/``."""

    name: str
    display_name: str
    description: str
    keys: tuple[TemplateKey, ...]
    cloud: str | None = None
    """The cloud whose catalogue GPUs the ``gpu`` prompt takes; None: no GPUs (a local cluster)."""


TEMPLATES = (
    Template(
        "shardstack-aws",
        "Shardstack on AWS",
        "A sharded LLM inference installation on AWS: a VPC, an EKS cluster, a GPU pool, an encrypted S3 weight "
        "store with a read-only identity for the ranks, ECR, and the OpenAI-compatible API",
        (
            TemplateKey("aws:region", "The AWS region to deploy into", "us-east-1"),
            _gpu_key("aws", "l4"),
            SHARDS_KEY,
            _model_key("s3:// or https://"),
            AUTHORIZED_NETWORKS,
        ),
        cloud="aws",
    ),
    Template(
        "shardstack-gcp",
        "Shardstack on Google Cloud",
        "A sharded LLM inference installation on Google Cloud: a VPC, a GKE cluster, a GPU pool, an encrypted GCS "
        "weight store with a read-only identity for the ranks, Artifact Registry, and the OpenAI-compatible API",
        (
            TemplateKey("gcp:project", "The Google Cloud project to deploy into"),
            TemplateKey("gcp:region", "The Google Cloud region to deploy into", "us-central1"),
            _gpu_key("gcp", "l4"),
            SHARDS_KEY,
            _model_key("gs:// or https://"),
            AUTHORIZED_NETWORKS,
        ),
        cloud="gcp",
    ),
    Template(
        "shardstack-azure",
        "Shardstack on Azure",
        "A sharded LLM inference installation on Azure: a VNet, an AKS cluster, a GPU pool, an encrypted Blob weight "
        "store with a read-only identity for the ranks, a container registry, and the OpenAI-compatible API",
        (
            TemplateKey("azure-native:location", "The Azure region to deploy into", "eastus"),
            _gpu_key("azure", "t4"),
            SHARDS_KEY,
            _model_key("az://<container>@<account>/... or https://"),
            AUTHORIZED_NETWORKS,
        ),
        cloud="azure",
    ),
    Template(
        "shardstack-local",
        "Shardstack on a local cluster",
        "The sharded runtime on your current kubeconfig context (kind, minikube, k3d), on CPU, with its weights in "
        "an in-cluster S3-compatible store",
        (
            KUBE_CONTEXT,
            SHARDS_KEY,
            # Without the trailing '/' the clouds' templates use: local ranks have always read this exact URI.
            _model_key("s3:// of the in-cluster store, or https://", DEMO_MODEL_PATH),
        ),
    ),
)
"""Every template, by directory name."""


@dataclass(frozen=True)
class TemplateSettings:
    """A template's answers, read from the stack's config (the project's namespace)."""

    gpu: str
    shards: int
    model: str
    authorized_networks: tuple[str, ...]
    kube_context: str | None
    """The kubeconfig context (the local template), None for the current one."""

    @classmethod
    def read(cls, template: str, config: pulumi.Config | None = None) -> TemplateSettings:
        """The answers to ``template``'s prompts in ``config`` (default: the project's), a key not set taking its
        default; bad ones raise :class:`pulumi.RunError`, a line for each naming the key, the value and what is
        allowed."""
        config = config or pulumi.Config()
        found = next((t for t in TEMPLATES if t.name == template), None)
        if found is None:
            raise ValueError(f"template {template!r}: must be one of {', '.join(t.name for t in TEMPLATES)}")
        defaults = {key.key: key.default or "" for key in found.keys}
        problems: list[str] = []

        def text(key: str) -> str:
            value = config.get(key)
            return defaults.get(key, "") if value is None else value.strip()

        def problem(key: TemplateKey, value: str, reason: str) -> None:
            problems.append(f"{config.name}:{key.key}: {value!r} {reason}")

        shards = SHARDS.from_text(text(SHARDS_KEY.key))
        if (reason := SHARDS.reason(shards)) is not None:
            problem(SHARDS_KEY, text(SHARDS_KEY.key), reason)
        networks = tuple(n.strip() for n in text(AUTHORIZED_NETWORKS.key).split(",") if n.strip())
        for network in networks:
            if (reason := cidr_reason(network)) is not None:
                problem(AUTHORIZED_NETWORKS, network, reason)
        gpu = text(GPU)
        if found.cloud is not None and gpu not in (offered := _offered(found.cloud)):
            allowed = f"one of {', '.join(offered)}{did_you_mean(gpu, offered)}"
            problems.append(f"{config.name}:{GPU}: {gpu!r} is not offered on {found.cloud} in the catalogue; {allowed}")
        model = text(MODEL_URI)
        if not model:
            problems.append(f"{config.name}:{MODEL_URI}: is empty: give a URI, or a path in the weight store")
        if problems:
            # RunError ends the program with just this message, as `pulumi up` prints it: no traceback.
            raise pulumi.RunError(str(ConfigError(pulumi.get_stack(), problems)))
        return cls(
            gpu=gpu,
            shards=shards,
            model=model,
            authorized_networks=networks,
            kube_context=text(KUBE_CONTEXT.key) or None,
        )

    def cluster(self) -> ClusterAccess:
        """API access: public to ``authorized_networks`` when given (the installation refuses the whole internet),
        else private."""
        if not self.authorized_networks:
            return ClusterAccess(private_endpoint=True)
        return ClusterAccess(private_endpoint=False, authorized_networks=list(self.authorized_networks))

    def gpu_pool(self) -> GpuPoolArgs:
        """One pool of single-GPU nodes, from none up to one per shard."""
        return GpuPoolArgs(gpu=self.gpu, min_nodes=0, max_nodes=self.shards)

    def serving(self) -> InstallationServing:
        """The deployment of the runtime image released with this package, and where its model is."""
        args = InstallationServing(inference=InstallationInference(image=DEFAULT_IMAGE, shards=self.shards))
        if "://" in self.model:
            args["inference"]["model_uri"] = self.model
        else:
            args["model_path"] = self.model
        return args
