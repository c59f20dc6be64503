// The records of the network module. A network record is what `network
// inspect` shows (docker's shape) plus the bridge it owns; it is written
// atomically to the data root. A container's network config (which networks,
// aliases, static addresses) lives beside the container's own record; its
// sandbox (namespace, endpoints with their addresses, published ports) is
// runtime state under the exec root, gone with a reboot as the processes are.

export type Driver = "bridge" | "host" | "null";

export interface IpamConfig {
  Subnet: string;
  Gateway: string;
  IPRange?: string;
}

export interface NetworkRecord {
  Name: string;
  Id: string;
  Created: string;
  Scope: "local";
  Driver: Driver;
  EnableIPv6: boolean;
  IPAM: { Driver: "default"; Options: Record<string, string> | null; Config: IpamConfig[] };
  Internal: boolean;
  Attachable: boolean;
  Ingress: boolean;
  ConfigFrom: { Network: string };
  ConfigOnly: boolean;
  Options: Record<string, string>;
  Labels: Record<string, string>;
  /** The Linux bridge; empty for host and null. */
  Bridge: string;
  /** The predefined `bridge`, `host` or `none`: cannot be removed. */
  Predefined: boolean;
}

/** What a container asked of one network: `--network-alias`, `--ip`, `--mac-address`. */
export interface EndpointRequest {
  NetworkID: string;
  Aliases: string[];
  IPv4Address: string;
  MacAddress: string;
}

/** The network side of a container, from its create request and later connect/disconnect. */
export interface ContainerNetworkConfig {
  /** `bridge` (the default or a named network), `none`, `host`, or `container`. */
  Mode: "bridge" | "none" | "host" | "container";
  /** For `container:<x>`: the id of the container whose namespace is joined. */
  Container?: string;
  /** Network id → what was asked. */
  Networks: Record<string, EndpointRequest>;
}

export type Protocol = "tcp" | "udp";

/** One published port as programmed: host address and port → container port. */
export interface PortMapping {
  Proto: Protocol;
  /** `0.0.0.0` for every address, as docker shows it. */
  HostIp: string;
  HostPort: number;
  ContainerPort: number;
}

export interface Endpoint {
  EndpointID: string;
  NetworkID: string;
  IPAddress: string;
  IPPrefixLen: number;
  Gateway: string;
  MacAddress: string;
  /** The host side of the veth pair. */
  HostIf: string;
  /** The container side: eth0, eth1… */
  IfName: string;
}

/** A running container's network state. */
export interface Sandbox {
  ContainerID: string;
  /** The bind-mounted namespace file; empty for host and container modes. */
  Netns: string;
  Endpoints: Record<string, Endpoint>;
  Ports: PortMapping[];
}

/** The facts of a container the network module reads (a container record has them all). */
export interface ContainerView {
  readonly Id: string;
  /** With docker's leading slash. */
  readonly Name: string;
  readonly Config: { readonly Hostname: string; readonly Domainname: string; readonly ExposedPorts?: Record<string, object>; readonly MacAddress?: unknown };
  readonly HostConfig: {
    readonly NetworkMode: string;
    readonly PortBindings: Record<string, readonly { HostIp: string; HostPort: string }[] | null>;
    readonly PublishAllPorts: boolean;
    readonly Dns: readonly string[];
    readonly DnsSearch: readonly string[];
    readonly DnsOptions: readonly string[];
    readonly ExtraHosts: readonly string[] | null;
  };
  readonly HostsPath: string;
  readonly ResolvConfPath: string;
  readonly State: { readonly Running: boolean };
}
