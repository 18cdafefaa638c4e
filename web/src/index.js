// @upvault/client: the browser client of Upvault, and what it is built from.
export { createClient, choosePlan, putToStorage, RESUME_PREFIX } from "./client.js";
export { UpvaultError } from "./errors.js";
export { combinePartChecksums, multipartChecksums, partChecksums, sha256Checksum, WEBCRYPTO_MAX_SIZE } from "./checksums.js";
export { awsS3V5Options } from "./uppy-v5.js";
export { awsS3V6Options } from "./uppy-v6.js";

/** @typedef {import("./client.js").UpvaultFile} UpvaultFile */
/** @typedef {import("./client.js").UpvaultClient} UpvaultClient */
/** @typedef {import("./client.js").Limits} Limits */
/** @typedef {import("./client.js").UploadProgress} UploadProgress */
/** @typedef {import("./client.js").UploadResult} UploadResult */
/** @typedef {import("./errors.js").Problem} Problem */
