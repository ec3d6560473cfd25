"""The bf16 CPU kernel (shardstack_runtime.model.cpu_kernel): the same products as torch's, on every instruction set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from shardstack_runtime.model import cpu_kernel

kernel = cpu_kernel.load()
# Where the kernel can't be had (not x86-64, no compiler) the runtime does without it; the reason is the skip's.
pytestmark = pytest.mark.skipif(kernel is None, reason=f"no bf16 CPU kernel here: {cpu_kernel.why()}")

# (out, in) features: a model's shapes, and ones that leave tails past the vector width and the row blocks.
SHAPES = [(960, 576), (7, 13), (33, 40), (5, 16), (130, 1030)]
ROWS = [1, 2, 5, 6, 7, 13, 64]


@pytest.fixture(params=kernel.instruction_sets() if kernel is not None else [])
def instruction_set(request: pytest.FixtureRequest):
    assert kernel is not None
    best = kernel.instruction_set()
    kernel.use_instruction_set(request.param)
    yield request.param
    kernel.use_instruction_set(best)


@pytest.mark.parametrize(("out_features", "in_features"), SHAPES)
def test_products_equal_torchs_in_fp32_for_every_row_count(instruction_set: str, out_features: int, in_features: int):
    assert kernel is not None
    generator = torch.Generator().manual_seed(out_features * in_features)
    weight = torch.randn(out_features, in_features, generator=generator).to(torch.bfloat16)
    bias = torch.randn(out_features, generator=generator).to(torch.bfloat16)
    for rows in ROWS:
        x = torch.randn(rows, in_features, generator=generator)
        # fp32 in, fp32 out: the exact products of the bf16 weights, summed in another order.
        expected = F.linear(x, weight.float(), bias.float())
        torch.testing.assert_close(kernel.bf16_linear(x, weight, bias), expected, rtol=1e-5, atol=1e-4)
        # bf16 in, bf16 out, as the engine runs it: torch's bf16 product within one bf16 rounding.
        x16 = x.to(torch.bfloat16)
        got = kernel.bf16_linear(x16, weight, None)
        assert got.dtype == torch.bfloat16
        torch.testing.assert_close(got.float(), F.linear(x16.float(), weight.float()), rtol=8e-3, atol=1e-2)


def test_batched_inputs_keep_their_leading_shape(instruction_set: str) -> None:
    assert kernel is not None
    weight = torch.randn(24, 32).to(torch.bfloat16)
    x = torch.randn(3, 2, 32).to(torch.bfloat16)  # [rows, tokens, features] like a prefill
    got = kernel.bf16_linear(x.transpose(0, 1), weight)  # not contiguous: the kernel copies what it must
    assert got.shape == (2, 3, 24)
    torch.testing.assert_close(got.float(), F.linear(x.transpose(0, 1).float(), weight.float()), rtol=8e-3, atol=1e-2)


def test_wrong_inputs_are_refused_by_name() -> None:
    assert kernel is not None
    with pytest.raises(RuntimeError, match="bf16 CPU weight"):
        kernel.bf16_linear(torch.randn(2, 8), torch.randn(4, 8))
    with pytest.raises(RuntimeError, match="input has 9 features, the weight 8"):
        kernel.bf16_linear(torch.randn(2, 9), torch.randn(4, 8).to(torch.bfloat16))
    with pytest.raises(RuntimeError, match="'sse2' is not one this CPU runs the kernel with"):
        kernel.use_instruction_set("sse2")


def run_build_command(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shardstack_runtime.model.cpu_kernel"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_a_built_kernel_is_imported_not_rebuilt() -> None:
    # What the image relies on: a kernel built ahead of time (the builder stage) is found and loaded as it is.
    result = run_build_command(PATH="/nonexistent")  # no compiler, no ninja: a rebuild would fail
    assert result.returncode == 0, result.stderr
    assert "building" not in result.stderr
    assert result.stdout.startswith(str(cpu_kernel.kernel_dir() / cpu_kernel.build_name()))


def test_where_it_cannot_be_built_the_reason_is_given(tmp_path) -> None:
    result = run_build_command(PATH="/nonexistent", SHARDSTACK_KERNEL_DIR=str(tmp_path))
    assert result.returncode == 1
    assert f"not built: it could not be built in {tmp_path / cpu_kernel.build_name()}" in result.stderr


def test_the_instruction_set_can_be_narrowed_by_name_and_a_wrong_name_is_refused() -> None:
    assert kernel is not None
    script = (
        "from shardstack_runtime.model import cpu_kernel as k; m = k.load(); print(m and m.instruction_set(), k.why())"
    )
    narrowest = kernel.instruction_sets()[-1]
    chosen = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, cpu_kernel.ISA_ENV: narrowest},
    )
    assert chosen.stdout.split()[0] == narrowest, chosen.stderr
    wrong = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, cpu_kernel.ISA_ENV: "sse2"}
    )
    assert wrong.stdout.startswith(
        f"None SHARDSTACK_KERNEL_ISA='sse2' is none of this CPU's: {kernel.instruction_sets()[0]}"
    )
