"""The GPU catalogue: its data is sane, and lookups and offers answer or fail as documented."""

from __future__ import annotations

import re

import pytest

from shardstack.catalog import (
    CLOUDS,
    GPUS,
    PLATFORM_CLOUD,
    PRICE_REGION,
    PRICE_SOURCE_URL,
    PRICES_AS_OF,
    VERTEX_SERVING_MARKUP,
    GpuModel,
    gpu,
)
from shardstack.errors import ArgumentError, InputError

REQUIRED_GPUS = ("t4", "l4", "a10g", "l40s", "a100-40gb", "a100-80gb", "h100-80gb", "h200-141gb")


def test_catalogue_has_every_required_gpu():
    missing = [name for name in REQUIRED_GPUS if name not in GPUS]
    assert missing == []


def test_keys_are_lower_case_and_match_model_names():
    for key, model in GPUS.items():
        assert key == key.lower() == key.strip()
        assert model.name == key


def test_every_gpu_has_at_least_one_offer():
    assert [name for name, model in GPUS.items() if not model.offers] == []


@pytest.mark.parametrize("model", GPUS.values(), ids=list(GPUS))
def test_every_offer_is_a_whole_gpu_node_with_a_price(model: GpuModel):
    for offer in model.offers:
        # Fractional GPUs (Azure NV6ads_A10_v5 = 1/6 GPU) must not appear: a shard needs a whole GPU.
        assert isinstance(offer.gpu_count, int) and offer.gpu_count >= 1, offer
        assert offer.usd_per_hour > 0, offer
        assert offer.vcpus >= 1 and offer.memory_gib > 0, offer
        assert offer.cloud in CLOUDS, offer


def test_instance_types_are_listed_once_per_cloud():
    seen: set[tuple[str, str]] = set()
    for model in GPUS.values():
        for offer in model.offers:
            key = (offer.cloud, offer.instance_type)
            assert key not in seen, f"{key} listed twice"
            seen.add(key)


@pytest.mark.parametrize("model", GPUS.values(), ids=list(GPUS))
def test_memory_is_what_cuda_reports_not_the_nominal_size(model: GpuModel):
    # The display name carries the nominal size ("NVIDIA H100 80GB"); CUDA always reports less, and
    # sizing against the nominal figure would plan shards that do not fit.
    nominal = re.search(r"(\d+)GB", model.display_name)
    assert nominal, model.display_name
    assert 0.9 * int(nominal.group(1)) < model.memory_gib < int(nominal.group(1))


def test_gcp_accelerator_is_set_exactly_for_gpus_gcp_offers():
    for model in GPUS.values():
        assert (model.gcp_accelerator is not None) == ("gcp" in model.clouds), model.name


def test_gcp_accelerator_names_are_gke_accelerator_types():
    assert gpu("l4").gcp_accelerator == "nvidia-l4"
    assert gpu("t4").gcp_accelerator == "nvidia-tesla-t4"
    assert gpu("h100-80gb").gcp_accelerator == "nvidia-h100-80gb"


def test_catalogue_is_read_only():
    with pytest.raises(TypeError):
        GPUS["b200"] = GPUS["h100-80gb"]  # type: ignore[index]


def test_prices_are_dated_and_sourced_for_every_cloud():
    assert re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", PRICES_AS_OF)
    assert set(PRICE_REGION) == set(CLOUDS)
    assert all(PRICE_SOURCE_URL[c].startswith("https://") for c in CLOUDS)


def test_gpu_lookup_is_case_insensitive():
    assert gpu("H100-80GB") is GPUS["h100-80gb"]
    assert gpu("  L4 ") is GPUS["l4"]


def test_gpu_lookup_fails_naming_the_value_the_choices_and_the_closest():
    with pytest.raises(InputError) as e:
        gpu("h100-80g")
    message = str(e.value)
    assert "'h100-80g'" in message
    assert "'a10g'" in message and "'h200-141gb'" in message
    assert "did you mean 'h100-80gb'?" in message


def test_gpu_lookup_without_a_close_name_gives_no_suggestion():
    with pytest.raises(InputError) as e:
        gpu("tpu-v5e")
    assert "did you mean" not in str(e.value)


def test_offers_on_a_cloud_without_the_gpu_is_empty():
    # GCP rents no L40S; Azure rents no L4.
    assert gpu("l40s").offers_on("gcp") == ()
    assert gpu("l4").offers_on("azure") == ()
    assert gpu("l40s").clouds == ("aws",)


def test_gpu_counts_are_sorted_and_distinct():
    # AWS: p5.4xlarge (1) and p5.48xlarge (8). GCP g2: 1-GPU shapes in five sizes, then 2, 4, 8.
    assert gpu("h100-80gb").gpu_counts("aws") == (1, 8)
    assert gpu("l4").gpu_counts("gcp") == (1, 2, 4, 8)
    assert gpu("t4").gpu_counts("azure") == (1, 4)
    assert gpu("l40s").gpu_counts("gcp") == ()


def test_offer_picks_the_cheapest_shape_with_exactly_that_gpu_count():
    # Five 1-GPU g6 sizes; g6.xlarge ($0.8048) is the cheapest. The two 4-GPU sizes: g6.12xlarge
    # ($4.6016) beats g6.24xlarge ($6.6752).
    assert gpu("l4").offer("aws", 1).instance_type == "g6.xlarge"
    assert gpu("l4").offer("aws", 4).instance_type == "g6.12xlarge"
    assert gpu("h100-80gb").offer("aws", 8).usd_per_hour == pytest.approx(55.04)


def test_offer_fails_for_a_gpu_count_not_offered():
    with pytest.raises(ArgumentError) as e:
        gpu("h100-80gb").offer("aws", 2)
    [problem] = e.value.problems
    assert problem.startswith("gpus_per_node: 2 ")
    assert "use one of 1, 8" in problem


def test_offer_fails_on_a_cloud_without_the_gpu_naming_the_clouds_that_have_it():
    with pytest.raises(ArgumentError) as e:
        gpu("a10g").offer("azure", 1)
    [problem] = e.value.problems
    assert "gpus_per_node" in problem and "'azure'" in problem
    assert "clouds that offer it: 'aws'" in problem


def test_managed_offers_are_the_platforms_names_for_the_clouds_shapes() -> None:
    for model in GPUS.values():
        plain = {(o.cloud, o.instance_type): o for o in model.offers}
        for managed in model.managed:
            assert managed.platform is not None and managed.cloud == PLATFORM_CLOUD[managed.platform]
            assert managed.approximate  # no managed price was read from the platform's own page
            name = managed.instance_type.removeprefix("ml.") if managed.platform == "sagemaker" else None
            base = plain[(managed.cloud, name or managed.instance_type)]
            assert (managed.gpu_count, managed.vcpus, managed.memory_gib) == (
                base.gpu_count,
                base.vcpus,
                base.memory_gib,
            )
            if managed.platform == "azureml":
                assert managed.usd_per_hour == base.usd_per_hour  # the VM's price, no surcharge
            elif managed.platform == "vertex":
                assert managed.usd_per_hour == pytest.approx(base.usd_per_hour * VERTEX_SERVING_MARKUP, abs=1e-4)
            else:
                assert managed.instance_type.startswith("ml.") and managed.usd_per_hour > base.usd_per_hour


def test_every_platform_serves_an_h100_node_and_a_small_gpu() -> None:
    h100 = GPUS["h100-80gb"]
    for platform in PLATFORM_CLOUD:
        assert any(o.gpu_count == 8 for o in h100.managed_offers_on(platform)), platform
        small = [o for g in ("t4", "l4", "a10g") for o in GPUS[g].managed_offers_on(platform) if o.gpu_count == 1]
        assert small, platform
    assert GPUS["h200-141gb"].managed_offers_on("azureml") == ()  # not on Azure ML's SKU list
