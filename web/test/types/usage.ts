// Compiled by `npm run typecheck` (tsc, no emit): the emitted declarations serve a TypeScript app.
import { createClient, UpvaultError, type UpvaultFile } from "@upvault/client";
import { awsS3V5Options } from "@upvault/client/uppy-v5";
import { awsS3V6Options } from "@upvault/client/uppy-v6";
import { multipartChecksums } from "@upvault/client/checksums";

export async function example(file: File): Promise<UpvaultFile> {
  const upvault = createClient({ apiUrl: "https://api.example.com", getToken: async () => "token" });
  const sums = await multipartChecksums(file, 8 * 1024 * 1024);
  const crc: string = sums.crc64nvme;
  void crc;
  const v5 = await awsS3V5Options(upvault, { category: "documents" });
  const chunk: number = v5.getChunkSize({ size: file.size });
  void chunk;
  const v6 = await awsS3V6Options(upvault, { category: () => "images" });
  void v6.signRequest;
  try {
    const { file_id } = await upvault.upload(file, { category: "documents", onProgress: ({ loaded, total }) => loaded / total });
    return await upvault.waitUntilProcessed(file_id);
  } catch (error) {
    if (error instanceof UpvaultError) console.error(error.status, error.problem.detail);
    throw error;
  }
}
