import type { Logger } from 'pino';
import type { Config } from '../config/settings.js';
import { BlobStoreUnavailable, type BlobFiles, type BlobRecords } from '../store/blobs/port.js';
import { ClusterBlobFiles } from '../store/cluster/blob-bucket.js';
import type { StoragePort } from '../store/port.js';

/**
 * The media server's storage in cluster mode (docs/media.md#cluster): bytes in the cluster's object
 * store bucket with a copy on each node, metadata changes through the cluster's stream (the writer
 * publishes them). Loaded only in cluster mode, so a single node never carries the object store client.
 */
export interface ClusterMedia {
  files: BlobFiles;
  records: BlobRecords;
  close(): Promise<void>;
}

export function clusterMedia(config: Config, store: StoragePort, local: BlobFiles, log: Logger): ClusterMedia {
  const files = new ClusterBlobFiles(local, {
    servers: config.clusterNats, bucket: `${config.clusterStream}-blobs`, replicas: config.clusterReplicas,
  }, { log: (level, msg, detail) => log[level](detail ?? {}, msg) });
  void files.run();
  // A new owner applied from the stream: this node copies the bytes ahead, so its first reader waits for
  // no transfer. A last owner removed (on any node): this node's copy goes.
  const unfollow = store.onChange((change) => {
    for (const sha256 of change.blobsAdded ?? []) files.prefetch(sha256);
    for (const sha256 of change.blobsRemoved ?? []) {
      files.forget(sha256).catch((err: unknown) => log.error({ err, sha256 }, 'removing the copy of a deleted blob failed'));
    }
  });
  // Blobs this node applied before it listened (it follows the stream from its start) are copied too.
  files.catchUp(async (sha256) => (await store.blobs.describe(sha256)) !== undefined);
  // A change the stream did not take (NATS out of reach, or no confirmation in time) is a 503, not a 500.
  const throughStream = <A extends unknown[], T>(change: (...args: A) => Promise<T>) => async (...args: A): Promise<T> => {
    try {
      return await change(...args);
    } catch (err) {
      throw new BlobStoreUnavailable(`the change did not go through the cluster's stream: ${(err as Error).message}`);
    }
  };
  const add = throughStream(store.blobs.add);
  const records: BlobRecords = {
    ...store.blobs,
    add: async (blob) => {
      try {
        const added = await add(blob);
        await files.share(blob.sha256, blob.size);
        return added;
      } finally {
        files.stored(blob.sha256);
      }
    },
    removeOwner: throughStream(store.blobs.removeOwner),
  };
  return {
    files, records,
    close: async () => {
      unfollow();
      await files.close();
    },
  };
}
