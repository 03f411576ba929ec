"""JSON merge patches between two versions of a status: what changed, and only that."""

from __future__ import annotations

from overture.kube.merge_patch import apply, diff

OLD = {
    "state": "RUNNING",
    "flowSpec": {"tasks": [{"id": "a"}, {"id": "b"}]},
    "taskRuns": [{"id": "a", "state": "RUNNING"}],
    "outputs": {"x": 1, "y": {"z": 2, "w": 3}},
    "message": "starting",
}


def test_equal_objects_give_an_empty_patch() -> None:
    assert diff(OLD, dict(OLD)) == {}


def test_unchanged_keys_stay_out_removed_keys_are_null_arrays_go_whole() -> None:
    new = {**OLD, "taskRuns": [{"id": "a", "state": "SUCCESS"}, {"id": "b", "state": "RUNNING"}]}
    del new["message"]
    new["endDate"] = "2026-01-31T12:00:02Z"
    assert diff(OLD, new) == {"taskRuns": new["taskRuns"], "message": None, "endDate": "2026-01-31T12:00:02Z"}


def test_objects_are_compared_key_by_key() -> None:
    new = {**OLD, "outputs": {"x": 1, "y": {"z": 5}}}
    assert diff(OLD, new) == {"outputs": {"y": {"z": 5, "w": None}}}


def test_the_patch_applied_to_the_old_gives_the_new() -> None:
    new = {"state": "SUCCESS", "flowSpec": OLD["flowSpec"], "outputs": {"y": {"w": [1, {"k": None}]}}}
    patch = diff(OLD, new)
    assert patch is not None
    assert apply(OLD, patch) == new
    assert "flowSpec" not in patch


def test_a_null_value_cannot_be_said_by_a_merge_patch() -> None:
    """null in a merge patch removes the key: the caller must write the whole object instead."""
    assert diff(OLD, {**OLD, "outputs": {"x": None, "y": OLD["outputs"]["y"]}}) is None
    assert diff({}, {"outputs": {"x": None}}) is None


def test_apply_leaves_its_target_alone() -> None:
    target = {"a": {"b": 1}}
    assert apply(target, {"a": {"b": None, "c": 2}}) == {"a": {"c": 2}}
    assert target == {"a": {"b": 1}}
    assert apply(target, ["whole"]) == ["whole"]


def test_every_patch_applied_gives_the_new_or_there_is_none() -> None:
    """The null rule, at each depth and each way a value can change, against RFC 7386's own apply."""
    olds = [{}, {"a": 1}, {"a": {"b": 1}}, {"a": {"b": None}}, {"a": [None]}, {"a": None}]
    news = [
        {},
        {"a": None},
        {"a": {"b": None}},
        {"a": {"b": {"c": None}}},
        {"a": {"b": 2}},
        {"a": [None, {"k": None}]},
        {"a": {"b": [None]}},
        {"a": 1, "d": {"e": {"f": 1}}},
    ]
    for old in olds:
        for new in news:
            patch = diff(old, new)
            if patch is None:  # only a null value inside an object stops a merge patch
                assert _has_null_in_objects(new), (old, new)
            else:
                assert apply(old, patch) == new, (old, new, patch)


def _has_null_in_objects(value: object) -> bool:
    if value is None:
        return True
    return isinstance(value, dict) and any(_has_null_in_objects(item) for item in value.values())
