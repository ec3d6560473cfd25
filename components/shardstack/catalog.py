"""The GPU catalogue: which NVIDIA GPUs each cloud rents, in which instance types, at what price.

Usage::

    from shardstack.catalog import gpu

    h100 = gpu("h100-80gb")
    h100.gpu_counts("aws")          # (1, 8)
    h100.offer("aws", 8)            # InstanceOffer(instance_type="p5.48xlarge", ..., usd_per_hour=55.04)

Prices
    ``InstanceOffer.usd_per_hour`` is the on-demand (pay-as-you-go) Linux list price in US dollars for
    one instance-hour, in one region per cloud (``PRICE_REGION``: AWS us-east-1, GCP us-central1, Azure
    eastus), as of ``PRICES_AS_OF``. It excludes disks, network, support plans and discounts (savings
    plans, committed use, spot). Use it to compare shapes and to budget, not to predict a bill.
    ``PRICE_SOURCE_URL`` names each cloud's official price page. Three kinds of row:

    - ``# checked``: read in 2026-11 from SkyPilot's machine-readable copy of the price lists
      (``CROSS_CHECK_URL``, generated from the AWS Price List API and the GCP billing catalogue).
    - unmarked: the published list price as known when the table was written (long-stable prices
      for these types), not re-read row by row.
    - ``approximate=True`` (and a comment): best knowledge that no published source confirmed.

Managed serving platforms
    ``GpuModel.managed`` holds each GPU's shapes on SageMaker real-time endpoints (``ml.<EC2 type>``), Vertex AI
    online prediction (Compute Engine machine types) and Azure ML managed online endpoints (VM sizes), with their
    hourly price; ``managed_offers_on(platform)`` picks one platform's. Every such price is ``approximate``: read
    from AWS's sample price table, derived from Compute Engine's (+15%), or the VM's (Azure ML adds nothing); see
    the tables' notes below.

GPU memory
    ``GpuModel.memory_gib`` is the memory CUDA reports for one GPU (``total_memory`` of
    ``torch.cuda.get_device_properties``, the "total capacity" in PyTorch's out-of-memory messages),
    rounded *down* to 0.1 GiB. It is not the nominal "80GB" on the box, which includes memory the
    driver and ECC keep for themselves: sizing against it would plan shards that do not fit. Where
    readings differ between driver versions or board variants (SXM vs PCIe) the smaller one is used.

GPU speed
    ``GpuModel.speed`` holds what the capacity model (:mod:`shardstack.performance`) needs of each GPU: its memory
    bandwidth and its dense (no sparsity) BF16/FP16 tensor throughput, as NVIDIA's datasheets publish them
    (``SPEED_SOURCE``, read ``SPEEDS_AS_OF``). Peak figures: a kernel reaches a fraction of them, which the model
    states as its efficiencies.

What is left out, and why
    - Fractional GPUs (Azure NVadsA10 v5 sizes below NV36ads: 1/6, 1/3 and 1/2 of an A10, and AWS
      g6f / gr6f): a shard needs a whole GPU's memory and a CUDA context of its own, so only the
      whole-GPU sizes are offers.
    - Offers without an on-demand price: AWS p5e.48xlarge (Capacity Blocks only), GCP a3-highgpu-1g,
      -2g, -4g (Spot and Flex-start only).
    - Shapes that differ from a listed one only in networking: GCP a3-megagpu-8g and a3-edgegpu-8g
      (same H100 and GPU count as a3-highgpu-8g; a3-megagpu also uses another accelerator name,
      ``nvidia-h100-mega-80gb``, and ``gcp_accelerator`` is one name per GPU model).
    - Azure NC H100 v5 has the H100 **NVL** (94 GB), a different board from the 80 GB SXM in ND H100
      v5, so it is its own model, ``h100-nvl-94gb``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from shardstack.errors import ArgumentError, InputError, did_you_mean, one_of

Cloud = Literal["aws", "gcp", "azure"]
CLOUDS: tuple[Cloud, ...] = ("aws", "gcp", "azure")

Platform = Literal["sagemaker", "vertex", "azureml"]
"""The managed serving platforms: SageMaker real-time endpoints, Vertex AI online prediction, Azure ML online
endpoints."""
PLATFORM_CLOUD: Mapping[Platform, Cloud] = MappingProxyType({"sagemaker": "aws", "vertex": "gcp", "azureml": "azure"})
"""The cloud each platform runs on; its prices are for that cloud's ``PRICE_REGION``."""

PRICES_AS_OF = "2026-11"
"""Year and month the price tables below were last checked."""

PRICE_REGION: Mapping[Cloud, str] = MappingProxyType({"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"})
"""The region each cloud's list prices are for: the cheapest large US region on each cloud."""

PRICE_SOURCE_URL: Mapping[Cloud, str] = MappingProxyType(
    {
        "aws": "https://aws.amazon.com/ec2/pricing/on-demand/",
        "gcp": "https://cloud.google.com/compute/gpus-pricing",
        "azure": "https://azure.microsoft.com/pricing/details/virtual-machines/linux/",
    }
)
"""Each cloud's official on-demand price page."""

CROSS_CHECK_URL = "https://github.com/skypilot-org/skypilot-catalog/tree/master/catalogs/v8"
"""Machine-readable copy of the AWS and GCP price lists used to check the tables (read 2026-11)."""


@dataclass(frozen=True)
class InstanceOffer:
    """One instance/VM type that carries a given GPU, with its size and on-demand price."""

    cloud: Cloud
    instance_type: str
    """The cloud's name for the shape: ``g6.xlarge``, ``g2-standard-8``, ``Standard_NC4as_T4_v3``.

    On GCP n1 the GPUs are attached to a general-purpose machine type; ``gpu_count`` says how many.
    """
    gpu_count: int
    vcpus: int
    memory_gib: float
    """Host memory (not GPU memory)."""
    usd_per_hour: float
    """On-demand list price in ``PRICE_REGION[cloud]``, as of ``PRICES_AS_OF``."""
    approximate: bool = False
    """True when the price is best knowledge that could not be checked against a published source."""
    platform: Platform | None = None
    """The managed serving platform this offer is on (its ``instance_type`` is the platform's name for the
    shape); None for a plain instance or VM of ``cloud``."""


def gpu_counts(offers: tuple[InstanceOffer, ...]) -> tuple[int, ...]:
    """Return the distinct GPUs-per-instance counts of ``offers``, ascending."""
    return tuple(sorted({o.gpu_count for o in offers}))


@dataclass(frozen=True)
class GpuModel:
    """One GPU model and every instance type, on every cloud, that carries it."""

    name: str
    """Catalogue key, lower-case: ``h100-80gb``."""
    display_name: str
    memory_gib: float
    """Memory CUDA reports for one GPU, rounded down (see the module docstring)."""
    offers: tuple[InstanceOffer, ...]
    gcp_accelerator: str | None
    """GKE/Compute Engine accelerator type (``nvidia-l4``), or None when GCP does not rent this GPU."""
    managed: tuple[InstanceOffer, ...] = ()
    """The managed serving platforms' shapes with this GPU (SageMaker, Vertex AI, Azure ML online endpoints)."""
    speed: GpuSpeed | None = None
    """Its published peak speeds, for the capacity model."""

    def managed_offers_on(self, platform: Platform) -> tuple[InstanceOffer, ...]:
        """Return ``platform``'s offers of this GPU (empty when the platform does not serve on it)."""
        return tuple(o for o in self.managed if o.platform == platform)

    @property
    def clouds(self) -> tuple[Cloud, ...]:
        """Return the clouds that offer this GPU, in ``CLOUDS`` order."""
        return tuple(c for c in CLOUDS if self.offers_on(c))

    def offers_on(self, cloud: Cloud) -> tuple[InstanceOffer, ...]:
        """Return the offers on ``cloud`` (empty when the cloud does not rent this GPU)."""
        return tuple(o for o in self.offers if o.cloud == cloud)

    def gpu_counts(self, cloud: Cloud) -> tuple[int, ...]:
        """Return the distinct GPUs-per-instance counts offered on ``cloud``, ascending."""
        return gpu_counts(self.offers_on(cloud))

    def offer(self, cloud: Cloud, gpus_per_node: int) -> InstanceOffer:
        """Return the cheapest offer on ``cloud`` with exactly ``gpus_per_node`` GPUs.

        Raises ArgumentError naming ``gpus_per_node``, the value and the counts that are offered.
        """
        matching = [o for o in self.offers_on(cloud) if o.gpu_count == gpus_per_node]
        if matching:
            return min(matching, key=lambda o: o.usd_per_hour)
        counts = self.gpu_counts(cloud)
        if counts:
            problem = (
                f"gpus_per_node: {gpus_per_node!r} is not offered for {self.name} on {cloud}; "
                f"use one of {', '.join(str(c) for c in counts)}"
            )
        else:
            elsewhere = ", ".join(repr(c) for c in self.clouds) or "none"
            problem = (
                f"gpus_per_node: {gpus_per_node!r} cannot be placed: {self.name} is not offered on "
                f"{cloud!r} in this catalogue; clouds that offer it: {elsewhere}"
            )
        raise ArgumentError(f"{self.name} offer", [problem])


SPEEDS_AS_OF = "2026-12-07"
SPEED_SOURCE = (
    "NVIDIA data-center GPU datasheets (nvidia.com/en-us/data-center/<gpu>/): memory bandwidth, and BF16 (FP16 on "
    "T4, which has no BF16) tensor TFLOPS halved from the 'with sparsity' figure where only that is printed"
)


@dataclass(frozen=True)
class GpuSpeed:
    """A GPU's published peak speeds (see ``SPEED_SOURCE``)."""

    memory_gb_per_s: float
    """HBM/GDDR bandwidth, 10**9 bytes per second."""
    dense_tflops: float
    """Dense BF16 tensor throughput, 10**12 floating-point operations per second."""
    approximate: bool = False
    """No datasheet of the vendor states it (AWS's A10G): a figure derived from the nearest board."""


# --- Data -------------------------------------------------------------------------------------------
# One row per GPU model: key, display name, memory CUDA reports (GiB, rounded down), GKE accelerator.
# Typical CUDA readings, which vary a little with driver, ECC mode and board: T4 14.75, L4 and
# A10/A10G 22.0-22.5, L40S 44.4-45.0, A100 40GB 39.4-39.6, A100 80GB 79.1-79.3, H100 80GB 79.1-79.6,
# H100 NVL 93.1-93.6, H200 139.7-140.4 GiB; the table takes the low end.
_GPU_ROWS: tuple[tuple[str, str, float, str | None], ...] = (
    ("t4", "NVIDIA T4 16GB", 14.7, "nvidia-tesla-t4"),
    ("l4", "NVIDIA L4 24GB", 22.0, "nvidia-l4"),
    ("a10g", "NVIDIA A10G 24GB", 22.0, None),
    ("a10", "NVIDIA A10 24GB", 22.0, None),
    ("l40s", "NVIDIA L40S 48GB", 44.4, None),
    ("a100-40gb", "NVIDIA A100 40GB", 39.4, "nvidia-tesla-a100"),
    ("a100-80gb", "NVIDIA A100 80GB", 79.1, "nvidia-a100-80gb"),
    ("h100-80gb", "NVIDIA H100 80GB", 79.1, "nvidia-h100-80gb"),
    ("h100-nvl-94gb", "NVIDIA H100 NVL 94GB", 93.1, None),
    ("h200-141gb", "NVIDIA H200 141GB", 139.7, "nvidia-h200-141gb"),
)

# Speeds by GPU key (see GpuSpeed). SXM boards where a GPU comes as SXM and PCIe (A100, H100): the clouds rent SXM.
_GPU_SPEEDS: Mapping[str, GpuSpeed] = {
    "t4": GpuSpeed(320, 65),
    "l4": GpuSpeed(300, 121),
    # AWS publishes no tensor figure for its A10G; it is an A10 with a lower clock: about 56% of the A10's.
    "a10g": GpuSpeed(600, 70, approximate=True),
    "a10": GpuSpeed(600, 125),
    "l40s": GpuSpeed(864, 362),
    "a100-40gb": GpuSpeed(1555, 312),
    "a100-80gb": GpuSpeed(2039, 312),
    "h100-80gb": GpuSpeed(3350, 989),
    "h100-nvl-94gb": GpuSpeed(3900, 835),
    "h200-141gb": GpuSpeed(4800, 989),
}

# Offer rows: (gpu key, instance type, GPUs, vCPUs, host memory GiB, USD/hour, approximate).
# AWS, us-east-1, Linux on-demand. p4d/p4de/p5 prices are after AWS's June 2025 cut of up to 45%.
_AWS: tuple[tuple[str, str, int, int, float, float, bool], ...] = (
    ("t4", "g4dn.xlarge", 1, 4, 16, 0.526, False),
    ("t4", "g4dn.2xlarge", 1, 8, 32, 0.752, False),
    ("t4", "g4dn.4xlarge", 1, 16, 64, 1.204, False),
    ("t4", "g4dn.8xlarge", 1, 32, 128, 2.176, False),
    ("t4", "g4dn.16xlarge", 1, 64, 256, 4.352, False),
    ("t4", "g4dn.12xlarge", 4, 48, 192, 3.912, False),  # checked
    ("t4", "g4dn.metal", 8, 96, 384, 7.824, False),
    ("l4", "g6.xlarge", 1, 4, 16, 0.8048, False),
    ("l4", "g6.2xlarge", 1, 8, 32, 0.9776, False),
    ("l4", "g6.4xlarge", 1, 16, 64, 1.3232, False),
    ("l4", "g6.8xlarge", 1, 32, 128, 2.0144, False),
    ("l4", "g6.16xlarge", 1, 64, 256, 3.3968, False),
    ("l4", "g6.12xlarge", 4, 48, 192, 4.6016, False),  # checked
    ("l4", "g6.24xlarge", 4, 96, 384, 6.6752, False),
    ("l4", "g6.48xlarge", 8, 192, 768, 13.3504, False),
    ("a10g", "g5.xlarge", 1, 4, 16, 1.006, False),
    ("a10g", "g5.2xlarge", 1, 8, 32, 1.212, False),
    ("a10g", "g5.4xlarge", 1, 16, 64, 1.624, False),
    ("a10g", "g5.8xlarge", 1, 32, 128, 2.448, False),
    ("a10g", "g5.16xlarge", 1, 64, 256, 4.096, False),
    ("a10g", "g5.12xlarge", 4, 48, 192, 5.672, False),
    ("a10g", "g5.24xlarge", 4, 96, 384, 8.144, False),
    ("a10g", "g5.48xlarge", 8, 192, 768, 16.288, False),
    ("l40s", "g6e.xlarge", 1, 4, 32, 1.861, False),
    ("l40s", "g6e.2xlarge", 1, 8, 64, 2.24208, False),
    ("l40s", "g6e.4xlarge", 1, 16, 128, 3.00424, False),
    ("l40s", "g6e.8xlarge", 1, 32, 256, 4.52856, False),
    ("l40s", "g6e.16xlarge", 1, 64, 512, 7.57719, False),
    ("l40s", "g6e.12xlarge", 4, 48, 384, 10.49264, False),
    ("l40s", "g6e.24xlarge", 4, 96, 768, 15.06559, False),
    ("l40s", "g6e.48xlarge", 8, 192, 1536, 30.13118, False),
    ("a100-40gb", "p4d.24xlarge", 8, 96, 1152, 21.957642, False),  # checked
    ("a100-80gb", "p4de.24xlarge", 8, 96, 1152, 27.44705, False),  # checked
    ("h100-80gb", "p5.4xlarge", 1, 16, 256, 6.88, False),  # checked
    ("h100-80gb", "p5.48xlarge", 8, 192, 2048, 55.04, False),  # checked
    ("h200-141gb", "p5en.48xlarge", 8, 192, 2048, 63.296, False),  # checked
)

# GCP, us-central1, on-demand: machine price + attached GPUs. n1 rows are n1-standard-N plus T4s at
# $0.35 per GPU-hour; the shape is the smallest n1-standard that the T4 count allows.
_GCP: tuple[tuple[str, str, int, int, float, float, bool], ...] = (
    ("t4", "n1-standard-4", 1, 4, 15, 0.54, False),
    ("t4", "n1-standard-8", 2, 8, 30, 1.08, False),
    ("t4", "n1-standard-16", 4, 16, 60, 2.16, False),
    ("l4", "g2-standard-4", 1, 4, 16, 0.70683, False),
    ("l4", "g2-standard-8", 1, 8, 32, 0.85389, False),
    ("l4", "g2-standard-12", 1, 12, 48, 1.00094, False),
    ("l4", "g2-standard-16", 1, 16, 64, 1.14799, False),
    ("l4", "g2-standard-32", 1, 32, 128, 1.73624, False),
    ("l4", "g2-standard-24", 2, 24, 96, 2.00189, False),
    ("l4", "g2-standard-48", 4, 48, 192, 4.00377, False),
    ("l4", "g2-standard-96", 8, 96, 384, 8.00753, False),
    ("a100-40gb", "a2-highgpu-1g", 1, 12, 85, 3.673385, False),  # machine part checked
    ("a100-40gb", "a2-highgpu-2g", 2, 24, 170, 7.34677, False),
    ("a100-40gb", "a2-highgpu-4g", 4, 48, 340, 14.69354, False),
    ("a100-40gb", "a2-highgpu-8g", 8, 96, 680, 29.38708, False),
    ("a100-40gb", "a2-megagpu-16g", 16, 96, 1360, 55.739504, False),
    ("a100-80gb", "a2-ultragpu-1g", 1, 12, 170, 5.06879, False),  # machine part checked
    ("a100-80gb", "a2-ultragpu-2g", 2, 24, 340, 10.13758, False),
    ("a100-80gb", "a2-ultragpu-4g", 4, 48, 680, 20.27517, False),
    ("a100-80gb", "a2-ultragpu-8g", 8, 96, 1360, 40.55034, False),
    # Approximate: the machine part ($9.46/h) is checked; the H100 GPU part is best knowledge.
    ("h100-80gb", "a3-highgpu-8g", 8, 208, 1872, 88.25, True),
    # Approximate: A3 Ultra is sold mostly through reservations; on-demand rate is best knowledge.
    ("h200-141gb", "a3-ultragpu-8g", 8, 224, 2952, 84.81, True),
)

# Azure, eastus, Linux pay-as-you-go.
_AZURE: tuple[tuple[str, str, int, int, float, float, bool], ...] = (
    ("t4", "Standard_NC4as_T4_v3", 1, 4, 28, 0.526, False),
    ("t4", "Standard_NC8as_T4_v3", 1, 8, 56, 0.752, False),
    ("t4", "Standard_NC16as_T4_v3", 1, 16, 110, 1.204, False),
    ("t4", "Standard_NC64as_T4_v3", 4, 64, 440, 4.352, False),
    # NVadsA10 v5: only the whole-GPU sizes (NV36ads and up); see the module docstring.
    ("a10", "Standard_NV36ads_A10_v5", 1, 36, 440, 3.20, False),
    ("a10", "Standard_NV36adms_A10_v5", 1, 36, 880, 4.52, True),  # approximate
    ("a10", "Standard_NV72ads_A10_v5", 2, 72, 880, 6.52, False),
    # NC A100 v4 carries the A100 80GB PCIe; same memory as the SXM board in NDm A100 v4.
    ("a100-80gb", "Standard_NC24ads_A100_v4", 1, 24, 220, 3.673, False),
    ("a100-80gb", "Standard_NC48ads_A100_v4", 2, 48, 440, 7.346, False),
    ("a100-80gb", "Standard_NC96ads_A100_v4", 4, 96, 880, 14.692, False),
    ("a100-80gb", "Standard_ND96amsr_A100_v4", 8, 96, 1900, 32.77, False),
    ("a100-40gb", "Standard_ND96asr_v4", 8, 96, 900, 27.197, False),
    ("h100-80gb", "Standard_ND96isr_H100_v5", 8, 96, 1900, 98.32, False),
    ("h100-nvl-94gb", "Standard_NC40ads_H100_v5", 1, 40, 320, 6.98, True),  # approximate
    ("h100-nvl-94gb", "Standard_NC80adis_H100_v5", 2, 80, 640, 13.96, True),  # approximate
    ("h200-141gb", "Standard_ND96isr_H200_v5", 8, 96, 1850, 84.80, True),  # approximate
)


# --- Managed serving platforms ------------------------------------------------------------------------------------
# Researched 2026-12; every price here is marked approximate (see each table). The shapes' GPUs, vCPUs and memory
# are the instance's or VM's above.

_SAGEMAKER: Mapping[str, float] = MappingProxyType(
    {
        "g4dn.xlarge": 0.7364,
        "g4dn.12xlarge": 4.89,
        "g5.xlarge": 1.4084,
        "g5.2xlarge": 1.515,
        "g5.12xlarge": 7.09,
        "g5.48xlarge": 20.36,
        "g6.2xlarge": 1.222,
        "g6.12xlarge": 5.752,
        "g6.48xlarge": 16.688,
        "g6e.xlarge": 2.61,
        "g6e.12xlarge": 13.12,
        "p4d.24xlarge": 37.688,
        "p5.48xlarge": 113.068,
    }
)
"""SageMaker real-time inference, us-east-1, USD per instance-hour of ``ml.<EC2 type>``: AWS's own sample price
table (aws-samples/foundation-model-benchmarking-tool, fmbench/configs/pricing.yml, 2025-01), not the official
page; p4d and p5 are from before AWS's June 2025 P4/P5 price cut, and g6e from copies of the Price List API."""

VERTEX_SERVING_MARKUP = 1.15
"""Vertex AI bills a serving node as its Compute Engine machine and GPUs plus 15%: the H100's serving SKU is
exactly the Compute Engine H100 price x 1.15 (billing SKU AE9C-DB60-DF46, 2025-08). Assumed for every family."""
VERTEX_SERVING_FAMILIES = ("n1-", "g2-", "a2-", "a3-")
"""The machine families with GPUs that Vertex AI serves on."""

AZUREML_SKUS = frozenset(
    {
        "Standard_NC4as_T4_v3",
        "Standard_NC8as_T4_v3",
        "Standard_NC16as_T4_v3",
        "Standard_NC64as_T4_v3",
        "Standard_NV36ads_A10_v5",
        "Standard_NV72ads_A10_v5",
        "Standard_NC24ads_A100_v4",
        "Standard_NC48ads_A100_v4",
        "Standard_NC96ads_A100_v4",
        "Standard_ND96asr_v4",
        "Standard_ND96amsr_A100_v4",
        "Standard_NC40ads_H100_v5",
        "Standard_NC80adis_H100_v5",
        "Standard_ND96isr_H100_v5",
    }
)
"""The GPU VM sizes Azure ML managed online endpoints run on (learn.microsoft.com/azure/machine-learning/
reference-managed-online-endpoints-vm-sku-list), of those above; billed at the VM's price, no surcharge."""


def _managed(offers: tuple[InstanceOffer, ...]) -> tuple[InstanceOffer, ...]:
    """The managed platforms' offers of one GPU, from its instances and VMs."""
    managed = []
    for o in offers:
        if o.cloud == "aws" and o.instance_type in _SAGEMAKER:
            price = _SAGEMAKER[o.instance_type]
            managed.append(replace(o, instance_type=f"ml.{o.instance_type}", usd_per_hour=price, platform="sagemaker"))
        if o.cloud == "gcp" and o.instance_type.startswith(VERTEX_SERVING_FAMILIES):
            price = round(o.usd_per_hour * VERTEX_SERVING_MARKUP, 4)
            managed.append(replace(o, usd_per_hour=price, platform="vertex"))
        if o.cloud == "azure" and o.instance_type in AZUREML_SKUS:
            managed.append(replace(o, platform="azureml"))
    # Every managed price is approximate: none was read from the platform's own price page.
    return tuple(replace(o, approximate=True) for o in managed)


def _build() -> Mapping[str, GpuModel]:
    """Return the read-only catalogue assembled from the literal tables above."""
    tables: tuple[tuple[Cloud, tuple[tuple[str, str, int, int, float, float, bool], ...]], ...] = (
        ("aws", _AWS),
        ("gcp", _GCP),
        ("azure", _AZURE),
    )
    models: dict[str, GpuModel] = {}
    for key, display_name, memory_gib, gcp_accelerator in _GPU_ROWS:
        offers = tuple(
            InstanceOffer(cloud, instance_type, gpus, vcpus, float(host_gib), price, approximate)
            for cloud, rows in tables
            for (gpu_key, instance_type, gpus, vcpus, host_gib, price, approximate) in rows
            if gpu_key == key
        )
        models[key] = GpuModel(
            key, display_name, memory_gib, offers, gcp_accelerator, _managed(offers), _GPU_SPEEDS[key]
        )
    return MappingProxyType(models)


GPUS: Mapping[str, GpuModel] = _build()
"""Every GPU model in the catalogue, by lower-case key (read-only)."""


def gpu(name: str) -> GpuModel:
    """Return the GPU model called ``name`` (case-insensitive, surrounding spaces ignored).

    Raises InputError naming the value, the known names and the closest one.
    """
    key = name.strip().lower()
    if key in GPUS:
        return GPUS[key]
    raise InputError(
        "unknown GPU",
        [f"gpu: {name!r} is not in the catalogue; use {one_of(GPUS)}{did_you_mean(key, GPUS)}"],
    )
