"""The domain core's pure rules: settings, keys, file names, validation."""

from __future__ import annotations

import pytest

from tests.support import SAMPLES
from upvault import keys
from upvault.errors import FileNotFound, InvalidIdentity, InvalidInput
from upvault.filenames import clean_display_name, content_disposition, safe_key_name
from upvault.models import Category, Status
from upvault.settings import GIB, MIB, Settings, SettingsError, load_settings
from upvault.uploads import plan_parts
from upvault.validation import verify_content

# -- settings -------------------------------------------------------------------------------------


def test_settings_defaults() -> None:
    # Given only a bucket name
    settings = Settings(bucket="upvault-test")
    # Then every other setting has its documented default
    assert (settings.put_url_expiry, settings.get_url_expiry) == (900, 300)
    assert settings.multipart_threshold == 100 * MIB
    assert settings.policies[Category.DOCUMENTS].max_size == 50 * MIB
    assert settings.policies[Category.IMAGES].max_size == 25 * MIB
    assert settings.policies[Category.AUDIO].max_size == 500 * MIB
    assert settings.max_object_size == 5 * GIB
    assert settings.endpoint_url is None
    assert "image/heic" in settings.policies[Category.IMAGES].allowed_types


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given UPVAULT_* variables, type lists in mixed case among them
    monkeypatch.setenv("UPVAULT_BUCKET", "my-bucket")
    monkeypatch.setenv("UPVAULT_IMAGES_TYPES", "image/png, IMAGE/JPEG")
    monkeypatch.setenv("UPVAULT_ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("UPVAULT_PUBLIC_ENDPOINT_URL", "http://localhost:9000")
    # When settings are loaded
    settings = load_settings()
    # Then they come from the environment, normalised
    assert settings.bucket == "my-bucket"
    assert settings.policies[Category.IMAGES].allowed_types == {"image/png", "image/jpeg"}
    assert settings.signing_endpoint_url == "http://localhost:9000"


@pytest.mark.parametrize(
    "variable",
    ["UPVAULT_ENDPOINT_URL", "UPVAULT_PUBLIC_ENDPOINT_URL", "UPVAULT_ACCESS_KEY_ID", "UPVAULT_SECRET_ACCESS_KEY"],
)
def test_an_empty_variable_is_unset(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    # Given a variable the Lambda template declares empty so `sam local --env-vars` can set it
    monkeypatch.setenv("UPVAULT_BUCKET", "my-bucket")
    monkeypatch.setenv(variable, "")
    # When the settings load on AWS, where nothing sets it
    settings = load_settings()
    # Then it counts as unset: no endpoint means AWS, no keys means the role's credentials
    assert getattr(settings, variable.removeprefix("UPVAULT_").lower()) is None
    assert settings.signing_endpoint_url is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("UPVAULT_PUT_URL_EXPIRY", str(7 * 24 * 3600 + 1)),
        ("UPVAULT_GET_URL_EXPIRY", "0"),
        ("UPVAULT_BUCKET", "Not_A_Bucket"),
        ("UPVAULT_PART_SIZE", "1024"),
        ("UPVAULT_AUDIO_MAX_SIZE", str(6 * GIB)),
        ("UPVAULT_ENDPOINT_URL", "not a url"),
        ("UPVAULT_DOCUMENTS_TYPES", " , "),
    ],
)
def test_bad_settings_fail_fast_naming_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    # Given one invalid variable
    monkeypatch.setenv("UPVAULT_BUCKET", "my-bucket")
    monkeypatch.setenv(variable, value)
    # When settings are loaded, Then loading fails naming that variable
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert variable.removeprefix("UPVAULT_").split("_")[0] in str(error.value).upper()


def test_missing_bucket_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no bucket, When settings are loaded, Then the error names UPVAULT_BUCKET
    monkeypatch.delenv("UPVAULT_BUCKET", raising=False)
    with pytest.raises(SettingsError, match="UPVAULT_BUCKET"):
        load_settings()


# -- keys ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", list(Category))
def test_file_ids_are_sortable_ulids_carrying_their_category(category: Category) -> None:
    # Given two ids issued one after the other
    first, second = keys.new_file_id(category), keys.new_file_id(category)
    # Then each is a ULID that tells its category, and they sort by time
    assert len(first) == 26
    assert keys.category_of(first) is category
    assert keys.created_at(first) <= keys.created_at(second)


@pytest.mark.parametrize(
    "file_id",
    [
        "",
        "x",
        "01M88A9NNXFE5G0HW0G2XWHCYX",
        "81M88A9NNXFE5G0HW0G2XWHCYD",
        "01m88a9nnxfe5g0hw0g2xwhcyd",
        "../../etc/passwd",
    ],
)
def test_foreign_ids_are_not_found(file_id: str) -> None:
    # Given an id we never issue (wrong category code, lower case, traversal), Then it is unknown
    with pytest.raises(FileNotFound):
        keys.category_of(file_id)


def test_user_segment_keeps_safe_ids_and_hashes_the_rest() -> None:
    # Given a Cognito-style UUID, Then it stays readable
    assert keys.user_segment("3f2a0c9e-1b2c-4d5e-8f90-a1b2c3d4e5f6") == "3f2a0c9e-1b2c-4d5e-8f90-a1b2c3d4e5f6"
    # Given hostile or unusual subjects, Then each gets its own hashed segment without a slash
    hostile = ["Alice", "alice/..", "../bob", "a\x00b", "ａｌｉｃｅ", "h-alice", "auth0|123", "a" * 500]
    segments = [keys.user_segment(sub) for sub in hostile]
    assert all(s.startswith("h-") and "/" not in s and len(s) == 50 for s in segments)
    assert len(set(segments)) == len(hostile)  # injective: no two users share a prefix
    # and an empty subject is no identity
    with pytest.raises(InvalidIdentity):
        keys.user_segment("")


def test_object_key_round_trip_and_rejections() -> None:
    # Given a key of our layout
    file_id = keys.new_file_id(Category.AUDIO)
    key = keys.ObjectKey(Status.PENDING, "alice", Category.AUDIO, file_id, "call.mp3")
    # Then it parses back to itself and moves between areas
    assert keys.ObjectKey.parse(str(key)) == key
    assert str(key.moved_to(Status.READY)).startswith("files/alice/audio/")
    # and keys outside the layout (short, foreign area, category not matching the id) do not parse
    for bad in [
        "staging/a/b",
        "other/alice/audio/x/y",
        f"staging/alice/images/{file_id}/x",
        f"staging/alice/music/{file_id}/x",
        f"staging//audio/{file_id}/x",
    ]:
        with pytest.raises(ValueError, match="key"):
            keys.ObjectKey.parse(bad)


# -- file names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "display", "safe"),
    [
        ("report.pdf", "report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd", "passwd"),
        ("C:\\Users\\x\\a.PDF", "a.PDF", "a.pdf"),
        ("CON.txt", "CON.txt", "_CON.txt"),
        ("nul", "nul", "_nul"),
        ("ﬁle.pdf", "ﬁle.pdf", "file.pdf"),  # ligature folds
        ("Ｒｅｐｏｒｔ.pdf", "Ｒｅｐｏｒｔ.pdf", "Report.pdf"),  # full width folds
        ("e\u0301.pdf", "é.pdf", "e.pdf"),  # NFC for display, accents dropped in keys
        ("...hidden", "...hidden", "hidden"),
        ("日本語.pdf", "日本語.pdf", "file.pdf"),
        ("a" * 250 + ".pdf", "a" * 250 + ".pdf", "a" * 96 + ".pdf"),
        ("zero\u200bwidth.pdf", "zero\u200bwidth.pdf", "zerowidth.pdf"),
    ],
)
def test_names_are_normalised(name: str, display: str, safe: str) -> None:
    # Given a client's file name, Then its display form is NFC without path and its key form safe ASCII
    assert clean_display_name(name) == display
    assert safe_key_name(display) == safe


@pytest.mark.parametrize("name", ["a\x00b", "a\nb", "\u202eexe.pdf", "a\u2066b", "\ud800", "", "  ", ".", "x" * 256])
def test_names_are_rejected(name: str) -> None:
    # Given a name that can only be an attack or a bug, Then it is a 422
    with pytest.raises(InvalidInput):
        clean_display_name(name)


def test_content_disposition_has_ascii_fallback_and_utf8() -> None:
    # Given a name with a quote and a euro sign, Then the header has a safe fallback and the exact name
    assert content_disposition('a"b €.pdf') == (
        "attachment; filename=\"a_b.pdf\"; filename*=UTF-8''a%22b%20%E2%82%AC.pdf"
    )


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", sorted(SAMPLES))
def test_every_accepted_type_is_recognised_from_its_bytes(content_type: str) -> None:
    # Given genuine bytes of an accepted type
    data = SAMPLES[content_type]
    # When verified against their own declaration, Then they pass
    assert (
        verify_content(declared_type=content_type, declared_size=len(data), actual_size=len(data), leading=data) is None
    )


def test_truncated_utf8_at_the_sniff_window_is_not_an_error() -> None:
    # Given a long UTF-8 text whose sniff window cuts a 3-byte character
    text = ("€" * 3000).encode()
    leading = text[:8192]
    # Then it is still text, while invalid UTF-8 in a whole small file is not
    assert (
        verify_content(declared_type="text/plain", declared_size=len(text), actual_size=len(text), leading=leading)
        is None
    )
    assert (
        verify_content(declared_type="text/plain", declared_size=3, actual_size=3, leading=b"\xff\xfe\xfa") is not None
    )


def test_part_plans_grow_past_ten_thousand_parts() -> None:
    # Given a 100 GiB file and 16 MiB parts (6,400 parts would fit, 10,000 is the limit)
    plan = plan_parts(100 * GIB, 16 * MIB)
    # Then the plan stays within 10,000 whole-MiB parts and the last part takes the rest
    assert plan.part_count <= 10_000
    assert plan.part_size % MIB == 0
    assert plan.part_length(plan.part_count) == 100 * GIB - plan.part_size * (plan.part_count - 1)
    assert plan_parts(16 * MIB, 16 * MIB).part_count == 1
