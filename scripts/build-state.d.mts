// Types for build-state.mjs, which stays plain JavaScript so the executable can run it before any loader.
export declare const BUILD_STAMP: string;
export declare function sourceFolders(root: string): string[];
export declare function sourceFiles(root: string): string[];
export type BuildState = { kind: 'fresh' } | { kind: 'missing' } | { kind: 'stale'; newest: string };
export declare function buildState(root: string): BuildState;
