// network: networks (bridge, host, none), container namespaces and veth pairs, IPAM, published ports, embedded DNS.
export * from "./types.js";
export * from "./ipv4.js";
export * from "./ipam.js";
export * from "./ports.js";
export { renderTable, renderDelete, tableName, type TableState } from "./nft.js";
export { parseQuestion, answer, DnsServer } from "./dns.js";
export { NetworkManager, macOf, type ContainerNetwork, type ContainerLookup, type CreateNetworkRequest, type NetworkOptions } from "./manager.js";
