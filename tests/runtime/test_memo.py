"""Process-wide memos stay bounded and keep the newest entries; cached documents are
decoded once."""

from runtime._memo import remember


def test_memo_drops_the_oldest_past_its_limit() -> None:
    memo: dict[int, int] = {}
    for i in range(10):
        remember(memo, i, i * i, limit=4)
    assert memo == {6: 36, 7: 49, 8: 64, 9: 81}
    remember(memo, 6, 0, limit=4)  # a refreshed key becomes the newest
    remember(memo, 10, 100, limit=4)
    assert list(memo) == [8, 9, 6, 10]


def test_a_cached_version_document_is_decoded_once_per_file(tmp_path) -> None:
    from runtime import Cache, VersionDoc
    from tests.runtime.test_wire import VERSION

    cache = Cache(tmp_path)
    url = "http://registry.invalid"
    cache.save_version(url, VersionDoc.from_json(VERSION))
    first = cache.load_version(url, "fraud-clf", 3)
    assert first == VersionDoc.from_json(VERSION) and first.signature is not None
    assert cache.load_version(url, "fraud-clf", 3) is first  # typed once, then reused
    changed = {**VERSION, "description": "another description, another size"}
    cache.save_version(url, VersionDoc.from_json(changed))
    again = cache.load_version(url, "fraud-clf", 3)
    assert again is not first and again.description == changed["description"]
    path = next((tmp_path / "refs").rglob("3.json"))
    path.write_text('{"name": "fraud-clf", "version": "three"}')
    assert cache.load_version(url, "fraud-clf", 3) is None  # unreadable: fetched again
