"""Starting, resuming, completing and aborting uploads.

Bytes never pass through here: the service validates a declaration, decides the key, and
presigns requests whose size, type, checksums and metadata are bound to the signature.

A multipart upload additionally leaves a zero-byte *placeholder* at its staging key, carrying
the declaration as metadata: storage's multipart listings return no metadata, and resuming
needs the declared size to re-sign parts. The processor ignores placeholders; completing the
upload writes the real object over it.

An upload has no id of its own: the API's ``upload_id`` is the file id, and S3's id of the
multipart upload (``multipart_id``) never leaves this module and :mod:`upvault.storage`.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from upvault import object_metadata
from upvault.errors import BadPartList, ChecksumMismatch, Conflict, UploadNotFound, field_error
from upvault.filenames import clean_display_name, safe_key_name
from upvault.keys import LOOKUP_ORDER, ObjectKey, file_prefix, new_file_id
from upvault.limits import choose_plan, default_part_size
from upvault.models import (
    Checksums,
    MultipartPlan,
    PartToSign,
    PartUrl,
    PresignedRequest,
    S3Request,
    Status,
    StoredObject,
    StoredPart,
    UploadProgress,
    UploadRequest,
    UploadTicket,
)
from upvault.settings import MAX_SINGLE_PUT, Settings
from upvault.storage import ObjectStore, StorageRejected
from upvault.validation import (
    check_checksums,
    check_metadata,
    check_part_checksums,
    check_upload,
    completion_crc64nvme,
    normalise_content_type,
)

#: Part URLs a multipart plan carries at most (the rest are signed on request, in batches).
FIRST_PART_URLS = 100
#: Running uploads this process remembers, so signing their parts needs no storage call.
RECENT_UPLOADS = 4096
#: Placeholder metadata that describes the upload itself, not the file: never copied to the object.
_PLACEHOLDER_ONLY = frozenset(
    {
        object_metadata.PLACEHOLDER,
        object_metadata.PART_SIZE,
        object_metadata.MULTIPART_ID,
        object_metadata.PRESIGN,
    }
)


def plan_parts(size: int, part_size: int) -> MultipartPlan:
    """Cut ``size`` bytes into at most 10,000 parts, growing the part size (in MiB) if needed."""
    part_size = default_part_size(size, part_size)
    return MultipartPlan(part_size=part_size, part_count=max(1, math.ceil(size / part_size)), size=size)


@dataclass(frozen=True)
class KnownUpload:
    """A running multipart upload: enough to sign its parts without asking storage."""

    user: str
    key: str
    multipart_id: str
    plan: MultipartPlan
    crc64nvme: str | None = None


class RecentUploads:
    """Uploads this process started or looked up lately (bounded, least recently used out).

    A warm API process signs the parts of an upload it planned with no storage call at all;
    any other process falls back to one HEAD (or a lookup), so the cache is only a shortcut.
    """

    def __init__(self, size: int = RECENT_UPLOADS) -> None:
        self._size = size
        self._items: OrderedDict[str, KnownUpload] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, file_id: str, user: str) -> KnownUpload | None:
        """The upload if known and the caller's own."""
        with self._lock:
            found = self._items.get(file_id)
            if found is None or found.user != user:
                return None
            self._items.move_to_end(file_id)
            return found

    def put(self, file_id: str, upload: KnownUpload) -> None:
        """Remember an upload."""
        with self._lock:
            self._items[file_id] = upload
            self._items.move_to_end(file_id)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def forget(self, file_id: str) -> None:
        """Drop a finished or aborted upload."""
        with self._lock:
            self._items.pop(file_id, None)


class UploadService:
    """Upload use cases for one deployment (settings + bucket)."""

    def __init__(self, settings: Settings, store: ObjectStore) -> None:
        self.settings = settings
        self.store = store
        self.recent = RecentUploads()

    @property
    def multipart_threshold(self) -> int:
        """Files above this many bytes are uploaded in parts (the setting, at most 5 GiB)."""
        return min(self.settings.multipart_threshold, MAX_SINGLE_PUT)

    def is_multipart(self, size: int, choice: bool | None = None) -> bool:
        """Whether a file of ``size`` bytes is uploaded in parts (the client's choice, else by size)."""
        if choice is not None:
            return choice
        return size > self.multipart_threshold

    def _expiry(self) -> datetime:
        # A multipart plan carries no URL yet: its part URLs, fetched next, live this long.
        return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self.settings.put_url_expiry)

    def start_upload(self, user: str, request: UploadRequest) -> UploadTicket:
        """Validate a declaration and hand out where and how to upload it."""
        name = clean_display_name(request.filename)
        content_type = normalise_content_type(request.content_type)
        check_upload(
            self.settings, category=request.category, content_type=content_type, size=request.size, display_name=name
        )
        part_size = choose_plan(self.settings, request.size, multipart=request.multipart, part_size=request.part_size)
        multipart = part_size is not None
        check_checksums(request.checksums, multipart=multipart, threshold=self.multipart_threshold)
        check_metadata(self.settings, request.metadata)
        if request.presign is not None and not multipart:
            raise field_error("presign", "only multipart uploads are signed request by request")
        if request.first_parts and not multipart:
            raise field_error("parts", "only a multipart upload has parts")

        file_id = new_file_id(request.category)
        key = ObjectKey(Status.PENDING, user, request.category, file_id, safe_key_name(name))
        metadata = object_metadata.build(
            display_name=name,
            size=request.size,
            checksums=request.checksums,
            client=request.metadata,
            multipart=multipart,
        )
        plan = plan_parts(request.size, part_size) if part_size is not None else None
        stored = (
            {**metadata, object_metadata.PLACEHOLDER: "1", object_metadata.PART_SIZE: str(plan.part_size)}
            if plan
            else metadata
        )
        _check_stored_size(stored, metadata[object_metadata.NAME])
        if plan is None:
            assert request.checksums.sha256 is not None  # check_checksums requires it
            single = self.store.presign_put(
                str(key),
                content_type=content_type,
                content_length=request.size,
                metadata=metadata,
                sha256=request.checksums.sha256,
                md5=request.checksums.md5,
            )
            return UploadTicket(file_id=file_id, expires_at=single.expires_at, single=single, key=str(key))

        if request.presign == "s3":
            # The client creates the upload itself (see presign_s3_request): hand it the signed
            # create request now, which saves it a round trip.
            declaration = {**stored, object_metadata.PRESIGN: "s3"}
            self.store.put_empty(str(key), content_type=content_type, metadata=declaration)
            create = self._s3_create(str(key), content_type, declaration)
            return UploadTicket(
                file_id=file_id, expires_at=create.expires_at, multipart=plan, key=str(key), create=create
            )
        multipart_id = self.store.create_multipart(str(key), content_type=content_type, metadata=metadata)
        # The placeholder names storage's id: signing parts then needs one HEAD, not a lookup.
        declaration = {**stored, object_metadata.MULTIPART_ID: multipart_id}
        self.store.put_empty(str(key), content_type=content_type, metadata=declaration)
        known = KnownUpload(user, str(key), multipart_id, plan, request.checksums.crc64nvme)
        self.recent.put(file_id, known)
        first = [self._part_url(known, part) for part in self._first_parts(request, plan)]
        expires_at = min((part.request.expires_at for part in first), default=self._expiry())
        return UploadTicket(file_id=file_id, expires_at=expires_at, multipart=plan, key=str(key), first_parts=first)

    @staticmethod
    def _first_parts(request: UploadRequest, plan: MultipartPlan) -> list[PartToSign]:
        """The parts the plan signs: those the client gave checksums for (storage refuses a part
        of a CRC64NVME upload without its own CRC64NVME, so none are signed bare)."""
        for part in request.first_parts:
            if not 1 <= part.part_number <= plan.part_count:
                raise BadPartList(f"part number {part.part_number} is outside 1..{plan.part_count}")
        check_part_checksums({part.part_number: part.checksums for part in request.first_parts})
        return list(request.first_parts[:FIRST_PART_URLS])

    def _part_url(self, upload: KnownUpload, part: PartToSign) -> PartUrl:
        length = upload.plan.part_length(part.part_number)
        request = self.store.presign_part(upload.key, upload.multipart_id, part.part_number, length, part.checksums)
        return PartUrl(part.part_number, length, request)

    def _open(self, user: str, file_id: str) -> _OpenUpload:
        """A running multipart upload with its plan and the parts storage holds (or 404/409)."""
        prefix = file_prefix(Status.PENDING, user, file_id)
        found = self.store.find_multipart(prefix)
        if found is None:
            self._raise_finished_or_missing(user, file_id)
        key, multipart_id = found
        placeholder = self.store.head(key)
        if placeholder is None or not object_metadata.is_placeholder(placeholder.metadata):
            # A completed object sits at the key: the upload was completed meanwhile.
            raise Conflict(f"upload {file_id} is already complete")
        stored = self.store.list_parts(key, multipart_id)
        if stored is None:
            self._raise_finished_or_missing(user, file_id)
        return _OpenUpload(key, multipart_id, placeholder, self._plan_of(placeholder), stored)

    def _raise_finished_or_missing(self, user: str, file_id: str) -> NoReturn:
        for status in LOOKUP_ORDER:
            key = self.store.first_key(file_prefix(status, user, file_id))
            if key is None:
                continue
            if status is not Status.PENDING:
                raise Conflict(f"upload {file_id} is already complete")
            found = self.store.head(key)
            # Gone between the listing and the HEAD (an abort): missing, not complete.
            if found is not None and not object_metadata.is_placeholder(found.metadata):
                raise Conflict(f"upload {file_id} is already complete")
        raise UploadNotFound(file_id)

    def _plan_of(self, placeholder: StoredObject) -> MultipartPlan:
        size = object_metadata.declared_size(placeholder.metadata) or 0
        recorded = placeholder.metadata.get(object_metadata.PART_SIZE, "")
        return plan_parts(size, int(recorded) if recorded.isdigit() else self.settings.part_size)

    def progress(self, user: str, file_id: str) -> UploadProgress:
        """Parts already stored and the numbers of the missing ones (to start or resume).

        Nothing is signed here: storage refuses a part of a CRC64NVME upload whose URL does not
        bind the part's own CRC64NVME, which only the client knows; it asks
        :meth:`sign_parts` with each missing part's checksum.
        """
        upload = self._open(user, file_id)
        plan = upload.plan
        have = {part.part_number for part in upload.stored if part.size == plan.part_length(part.part_number)}
        wanted = [n for n in range(1, plan.part_count + 1) if n not in have]
        return UploadProgress(
            file_id=file_id,
            plan=plan,
            stored=upload.stored,
            missing=[],
            expires_at=self._expiry(),
            missing_parts=wanted,
        )

    def complete(self, user: str, file_id: str, parts: list[tuple[int, str]], *, crc64nvme: str | None = None) -> str:
        """Assemble the parts after checking them against the plan and what storage holds;
        returns the key the file was assembled at.

        ``crc64nvme`` is the whole file's CRC64NVME (the client hashed each part as it sent it
        and combined them); it may be left out only when the declaration carried it, and must
        then be the same (422 otherwise). Storage gets the parts as it listed them (its own
        ETags and part checksums), that full-object CRC64NVME and the placeholder's ETag as a
        precondition: it verifies the file end to end, and of concurrent completions exactly
        one succeeds; the others, like a completion racing an abort, get the problem for the
        state they lost to (409 or 404).
        """
        upload = self._open(user, file_id)
        declared = object_metadata.declared_checksums(upload.placeholder.metadata)
        crc = completion_crc64nvme(declared.crc64nvme, crc64nvme)
        ordered = _check_part_list(upload.plan, parts, {p.part_number: p for p in upload.stored})
        try:
            self.store.complete_multipart(
                upload.key, upload.multipart_id, ordered, crc64nvme=crc, if_match=upload.placeholder.etag
            )
        except StorageRejected as exc:
            if exc.code in _LOST_RACE_CODES:
                self._raise_finished_or_missing(user, file_id)
            if exc.code in _CHECKSUM_CODES:
                raise ChecksumMismatch(
                    "the uploaded parts do not add up to the file's crc64nvme: "
                    "upload the parts of the file again, or abort"
                ) from None
            raise BadPartList(f"storage refused the part list: {exc.code}") from None
        self.recent.forget(file_id)
        return upload.key

    def abort(self, user: str, file_id: str) -> None:
        """Abort a running multipart upload and remove its placeholder.

        If the upload was completed (or aborted) meanwhile, the answer says so (409 or 404) and
        the completed file is left alone: only the placeholder's own version is removed.
        """
        upload = self._open(user, file_id)
        aborted = self.store.abort_multipart(upload.key, upload.multipart_id)
        self.store.purge_up_to(upload.key, upload.placeholder.version_id)
        current = self.store.head(upload.key)
        if current is not None and not object_metadata.is_placeholder(current.metadata):
            raise Conflict(f"upload {file_id} was completed meanwhile")
        self.recent.forget(file_id)
        if not aborted:
            self._raise_finished_or_missing(user, file_id)

    def sign_parts(self, user: str, file_id: str, parts: list[PartToSign], *, key: str | None = None) -> UploadProgress:
        """URLs for the given parts, each binding its MD5 and CRC64NVME when given.

        No storage listing: an upload this process planned costs no storage call, one whose
        ``key`` the client passes back (from the plan) costs one HEAD, others a lookup.
        """
        for part in parts:
            check_part_checksums({part.part_number: part.checksums})
        known = self._known(user, file_id, key)
        plan = known.plan
        for part in parts:
            if not 1 <= part.part_number <= plan.part_count:
                raise BadPartList(f"part number {part.part_number} is outside 1..{plan.part_count}")
        missing = [self._part_url(known, part) for part in parts]
        expires_at = min((part.request.expires_at for part in missing), default=self._expiry())
        return UploadProgress(file_id=file_id, plan=plan, stored=[], missing=missing, expires_at=expires_at)

    def _known(self, user: str, file_id: str, key: str | None) -> KnownUpload:
        cached = self.recent.get(file_id, user)
        if cached is not None:
            return cached
        if key is not None and _names_pending_file(key, user, file_id):
            placeholder = self.store.head(key)
            multipart_id = placeholder.metadata.get(object_metadata.MULTIPART_ID) if placeholder else None
            if placeholder is not None and object_metadata.is_placeholder(placeholder.metadata) and multipart_id:
                crc = object_metadata.declared_checksums(placeholder.metadata).crc64nvme
                known = KnownUpload(user, key, multipart_id, self._plan_of(placeholder), crc)
                self.recent.put(file_id, known)
                return known
        upload = self._open(user, file_id)
        known = KnownUpload(
            user,
            upload.key,
            upload.multipart_id,
            upload.plan,
            object_metadata.declared_checksums(upload.placeholder.metadata).crc64nvme,
        )
        self.recent.put(file_id, known)
        return known

    def presign_s3_request(self, user: str, request: S3Request) -> PresignedRequest:
        """Presign one raw S3 request on the caller's own upload declared with ``presign: "s3"``.

        Only the requests of a multipart upload are signed, each for the declared key and with
        what the declaration fixed: the create carries the file's type, metadata and the
        full-object CRC64NVME algorithm; a part its exact length (and CRC64NVME); completion
        the whole file's CRC64NVME the client gives (or the declared one), so storage refuses
        other bytes. The completed
        object lands in staging like any other and goes through the processor's validation.
        """
        try:
            parsed = ObjectKey.parse(request.key)
        except ValueError:
            raise field_error("key", "is not the key of a declared upload") from None
        if parsed.status is not Status.PENDING or parsed.user != user:
            raise UploadNotFound(parsed.file_id)  # another user's key: 404, as for any unknown id
        placeholder = self.store.head(request.key)
        if placeholder is None:
            self._raise_finished_or_missing(user, parsed.file_id)
        metadata = placeholder.metadata
        if not object_metadata.is_placeholder(metadata):
            raise Conflict(f"upload {parsed.file_id} is already complete")
        if metadata.get(object_metadata.PRESIGN) != "s3":
            raise Conflict(f"upload {parsed.file_id} was not declared with presign 's3'")
        if request.part_number is not None:
            check_part_checksums({request.part_number: Checksums(crc64nvme=request.crc64nvme)})
        return self._s3_request(request, placeholder)

    def _s3_create(self, key: str, content_type: str, declaration: dict[str, str]) -> PresignedRequest:
        """CreateMultipartUpload binding the declared type, metadata and full-object CRC64NVME."""
        headers = {
            "Content-Type": content_type,
            **{f"x-amz-meta-{name}": value for name, value in declaration.items() if name not in _PLACEHOLDER_ONLY},
            # Always: storage then refuses parts without their CRC64NVME and verifies the whole
            # file's at completion, whether it was declared now or comes then.
            "x-amz-checksum-algorithm": "CRC64NVME",
            "x-amz-checksum-type": "FULL_OBJECT",
        }
        return self.store.presign_request("POST", key, params={"uploads": ""}, headers=headers)

    def _s3_request(self, request: S3Request, placeholder: StoredObject) -> PresignedRequest:
        method, key, multipart_id = request.method.upper(), request.key, request.storage_upload_id
        metadata = placeholder.metadata
        if method == "POST" and not multipart_id:
            return self._s3_create(key, placeholder.content_type, metadata)
        if not multipart_id:
            raise field_error("storage_upload_id", f"is required for {method} on a multipart upload")
        if method == "PUT":
            plan = self._plan_of(placeholder)
            number = request.part_number
            if number is None or not 1 <= number <= plan.part_count:
                raise BadPartList(f"part_number must be within 1..{plan.part_count}")
            checksums = Checksums(crc64nvme=request.crc64nvme)
            return self.store.presign_part(key, multipart_id, number, plan.part_length(number), checksums)
        if method == "POST":
            # Completion binds the whole file's CRC64NVME: the one the client gives now (it
            # hashed the parts as it sent them), else the declared one.
            crc = completion_crc64nvme(object_metadata.declared_checksums(metadata).crc64nvme, request.crc64nvme)
            headers = {"x-amz-checksum-crc64nvme": crc, "x-amz-checksum-type": "FULL_OBJECT"}
            return self.store.presign_request("POST", key, params={"uploadId": multipart_id}, headers=headers)
        if method in ("GET", "DELETE"):
            return self.store.presign_request(method, key, params={"uploadId": multipart_id})
        raise field_error("method", f"{method} is not a request of a multipart upload")


@dataclass(frozen=True)
class _OpenUpload:
    """A running multipart upload: its staging key, S3's id for it, its placeholder (the
    declaration), its plan and the parts storage holds."""

    key: str
    multipart_id: str
    placeholder: StoredObject
    plan: MultipartPlan
    stored: list[StoredPart]


def _check_stored_size(metadata: dict[str, str], encoded_name: str) -> None:
    """422 when the declaration's metadata would not fit storage's limit (the name is what grows:
    it is percent-encoded UTF-8, so 255 characters of CJK take 2,295 bytes)."""
    size = object_metadata.stored_size(metadata)
    if size > object_metadata.STORAGE_LIMIT:
        budget = object_metadata.STORAGE_LIMIT - (size - len(encoded_name))
        raise field_error(
            "filename",
            f"is too long for storage once encoded: it takes {len(encoded_name)} bytes percent-encoded "
            f"and at most {max(budget, 0)} fit beside the rest of the file's metadata "
            f"({object_metadata.STORAGE_LIMIT} bytes in all)",
        )


def _names_pending_file(key: str, user: str, file_id: str) -> bool:
    """Whether ``key`` is a pending object of this user's file (a client passes it back)."""
    try:
        parsed = ObjectKey.parse(key)
    except ValueError:
        return False
    return parsed.status is Status.PENDING and parsed.user == user and parsed.file_id == file_id


def _normalise_etag(etag: str) -> str:
    return etag.strip().strip('"').lower()


#: Storage's answers when another request finished the upload first (completed or aborted).
#: (MinIO answers NoSuchKey when the If-Match precondition finds the placeholder gone: aborted.)
_LOST_RACE_CODES = frozenset({"NoSuchUpload", "NoSuchKey", "PreconditionFailed", "ConditionalRequestConflict"})
#: Storage's answers when the parts do not add up to the declared full-object checksum.
_CHECKSUM_CODES = frozenset({"BadDigest", "XAmzContentChecksumMismatch", "InvalidDigest"})


def _check_part_list(
    plan: MultipartPlan, parts: list[tuple[int, str]], stored: dict[int, StoredPart]
) -> list[StoredPart]:
    """The stored parts the client's list names, in order; 400 unless it names exactly the plan."""
    numbers = [number for number, _ in parts]
    if numbers != list(range(1, plan.part_count + 1)):
        bad = [n for n in numbers if not 1 <= n <= plan.part_count]
        if bad:
            raise BadPartList(f"part numbers must be within 1..{plan.part_count}; got {bad[:5]}")
        raise BadPartList(f"expected parts 1..{plan.part_count} in ascending order, each once")
    for number, etag in parts:
        part = stored.get(number)
        if part is None:
            raise BadPartList(f"part {number} has not been uploaded")
        if _normalise_etag(part.etag) != _normalise_etag(etag):
            raise BadPartList(f"ETag of part {number} does not match the stored part")
        if part.size != plan.part_length(number):
            raise BadPartList(f"part {number} is {part.size} bytes, expected {plan.part_length(number)}")
    return [stored[number] for number, _ in parts]
