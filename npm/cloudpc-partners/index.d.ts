export interface TokenOptions {
  app?: boolean;
  scopes?: string[];
  partner?: string;
}

export interface StandIn {
  /** The Graph root, such as https://127.0.0.1:PORT/beta. */
  baseUrl: string;
  origin: string;
  /** The intercepting proxy's address, HOST:PORT. */
  proxy: string;
  /** The development CA the stand-in's certificates chain to. */
  caFile: string;
  token(tenant: string, options?: TokenOptions): string;
  /** The environment an unchanged app needs (proxy and CA). */
  env: Record<string, string>;
  call(method: string, path: string, tenant: string, body?: unknown): Promise<any>;
  dev: {
    seed(tenant: string, connections: object[]): Promise<string[]>;
    reset(tenant: string): Promise<number>;
    clock(tenant: string, move?: { advance?: string; set?: string; reset?: true }): Promise<any>;
    faults(tenant: string, settings?: object | null): Promise<any>;
    journal(tenant: string, top?: number): Promise<any[]>;
  };
  stop(): Promise<void>;
}

export function startStandIn(options?: { database?: string; args?: string[] }): Promise<StandIn>;
export function binaryPath(): string;
