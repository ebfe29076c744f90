/**
 * The replies of an ioredis MULTI/pipeline `exec()`, in order; throws the first command
 * error, or when the transaction was aborted (a WATCHed key changed: not used here).
 */
export function multiResults(res: Array<[Error | null, unknown]> | null): unknown[] {
  if (res === null) throw new Error('transaction aborted');
  return res.map(([err, v]) => {
    if (err) throw err;
    return v;
  });
}
