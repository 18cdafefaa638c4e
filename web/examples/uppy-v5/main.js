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
  uppy.use(GoldenRetriever, { serviceWorker: false });
  uppy.use(AwsS3, { ...options, limit: 3 });
  return { uppy, upvault, fileIdOf: options.fileIdOf, major: 5 };
}
