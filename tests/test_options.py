"""Each kind's options (issue #16): defaults written once, checked when made."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from syncd.config import CloudonexOptions, SkybizOptions, SourceConfig
from syncd.kinds import registry
from syncd.kinds.options import MASTERS_FROM, OptionError


def test_each_kind_names_its_options_and_their_keys_once() -> None:
    """The registry's config keys are the options class's KEYS."""
    assert registry.get("skybiz").options is SkybizOptions
    assert registry.get("cloudonex").options is CloudonexOptions
    assert registry.get("skybiz").config_keys == SkybizOptions.KEYS
    assert registry.get("cloudonex").config_keys == CloudonexOptions.KEYS


def test_defaults() -> None:
    sky = SkybizOptions(dt.date(2024, 1, 1))
    assert (sky.masters_from, sky.register_url, sky.renewal_date) == (MASTERS_FROM, None, None)
    cx = CloudonexOptions()
    assert (cx.page_size, cx.full_read_seconds, cx.auth) == (100, 6 * 3600.0, "bearer")


@pytest.mark.parametrize(("make", "key"), [
    (lambda: SkybizOptions(dt.date(1800, 1, 1)), "backfill_from"),
    (lambda: SkybizOptions("2024-01-01"), "backfill_from"),
    (lambda: SkybizOptions(dt.date(2024, 1, 1), masters_from=dt.date(3000, 1, 1)),
     "masters_from"),
    (lambda: CloudonexOptions(page_size=0), "page_size"),
    (lambda: CloudonexOptions(page_size=True), "page_size"),
    (lambda: CloudonexOptions(full_read_seconds=-1.0), "full_read_seconds"),
    (lambda: CloudonexOptions(full_read_seconds=float("nan")), "full_read_seconds"),
    (lambda: CloudonexOptions(auth="basic"), "auth"),
])
def test_a_wrong_value_is_refused_naming_its_key(make: Any, key: str) -> None:
    with pytest.raises(OptionError, match=f"^{key}: ") as caught:
        make()
    assert caught.value.key == key


def test_a_source_takes_only_its_kinds_options() -> None:
    with pytest.raises(ValueError, match="its options must be SkybizOptions"):
        SourceConfig(name="a", kind="skybiz", base_url="https://x.example", timezone="UTC",
                     modules=("sales",), options=CloudonexOptions())


def test_kind_neutral_views() -> None:
    """backfill_from and renewal_date read through; None for a kind without them."""
    sky = SourceConfig(name="a", kind="skybiz", base_url="https://x.example", timezone="UTC",
                       modules=("sales",), options=SkybizOptions(dt.date(2024, 1, 1)))
    cx = SourceConfig(name="b", kind="cloudonex", base_url="https://y.example",
                      timezone="UTC", modules=("customers",), options=CloudonexOptions())
    assert (sky.backfill_from, sky.masters_from, sky.auth) == (dt.date(2024, 1, 1),
                                                               MASTERS_FROM, None)
    assert (cx.backfill_from, cx.masters_from, cx.renewal_date, cx.auth) == (
        None, None, None, "bearer")
    assert cx.backfill_floor("customers") is None
    with pytest.raises(TypeError, match="has no SkybizOptions"):
        cx.options_of(SkybizOptions)
