// Uppy 5 + @uppy/aws-s3 5.x + Golden Retriever, uploading through Upvault (docs/uppy.md).
// The browser tests load this bundle (dist/uppy-v5-example.js) from uppy.html.
import AwsS3 from "@uppy/aws-s3";
import Uppy from "@uppy/core";
import GoldenRetriever from "@uppy/golden-retriever";
import { createClient } from "../../src/index.js";
import { awsS3V5Options } from "../../src/uppy-v5.js";

export async function start({ apiUrl, token, category = "documents" }) {
  const upvault = createClient({ apiUrl, getToken: () => token });
  const uppy = new Uppy({ id: "upvault-v5", autoProceed: false });
  const options = await awsS3V5Options(upvault, { category });
  // Golden Retriever keeps files up to 10 MiB by default: keep larger ones too (IndexedDB), so a
  // multipart upload resumes after a reload.
  uppy.use(GoldenRetriever, { indexedDB: { maxFileSize: 2 * 1024 ** 3, maxTotalSize: 4 * 1024 ** 3 } });
  uppy.use(AwsS3, { ...options, limit: 3 });
  return { uppy, upvault, fileIdOf: options.fileIdOf, major: 5 };
}
