// The agent's REST API types, shared by the agent, the CLI and the CNI plugin.
// JSON field names here are public interface: keep them, add to them freely.

export const DEFAULT_SOCKET = '/var/run/membrane/agent.sock';

/** An attachment as the container runtime names it. */
export interface AttachmentRef {
  containerID: string;
  ifName: string;
}

/** PUT /v1/endpoints: create (or return the existing) endpoint for an attachment. */
export interface EndpointCreateRequest extends AttachmentRef {
  /** Path of the pod's network namespace, e.g. /var/run/netns/pod1 or /proc/PID/ns/net. */
  netns: string;
  podNamespace?: string;
  podName?: string;
}

export type EndpointState = 'creating' | 'ready' | 'deleting';

export interface EndpointJSON extends AttachmentRef {
  /** Numeric endpoint id, unique on this node (1..65535). */
  id: number;
  state: EndpointState;
  netns: string;
  podNamespace: string;
  podName: string;
  labels: Record<string, string>;
  ipv4: string;
  /** Prefix length of the pod's address (32: everything goes through the gateway). */
  prefixLength: number;
  gateway: string;
  podMAC: string;
  hostIfName: string;
  hostIfIndex: number;
  hostMAC: string;
  createdAt: string;
}

/** POST /v1/endpoints/gc */
export interface GcRequest {
  validAttachments: AttachmentRef[];
}
export interface GcResponse {
  removed: AttachmentRef[];
}

export interface ApiErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}
