/** A file the dashboard serves is missing or unreadable at start-up (a broken install). */
export class DashboardAssetError extends Error {
  override readonly name = 'DashboardAssetError';
  readonly code = 'ERR_DASHBOARD_ASSET';

  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`the dashboard cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
