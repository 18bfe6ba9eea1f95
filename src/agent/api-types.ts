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
  /** Security identity (set by the policy manager; MB_ID_INIT until then). */
  identity?: number;
  /** MB_EP_F_* policy flags last written to the datapath (kept so a restart rewrites them at once). */
  policyFlags?: number;
  /** `membrane endpoint config REF PolicyAuditMode=Enabled`: report this endpoint's denials instead of dropping. */
  policyAuditMode?: boolean;
  /** GET /v1/endpoints/REF only: the policy it is under, as programmed. */
  policy?: RealizedPolicyJSON;
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

// --- services ---------------------------------------------------------------

export type ServiceBackendState = 'active' | 'terminating' | 'maintenance';
export type ServiceFrontendType = 'ClusterIP' | 'NodePort' | 'ExternalIP' | 'LoadBalancer';

/** A backend of a service port. */
export interface ServiceBackendJSON {
  address: string;
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  state: ServiceBackendState;
  /** On this node. */
  local: boolean;
  nodeName?: string;
  /** namespace/name of its pod, when known. */
  pod?: string;
  /** Where it came from: an EndpointSlice, or the service's selector matching a local endpoint. */
  source: 'EndpointSlice' | 'selector';
  /** Its id in mb_lb4_backend (absent for SCTP ports, which are not load-balanced). */
  backendId?: number;
}

export interface ServicePortJSON {
  name: string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  targetPort: number | string;
  nodePort?: number;
  backends: ServiceBackendJSON[];
}

/** One lookup scope of a frontend: 'internal' (socket LB of the node and its pods) or 'external' (node devices). */
export interface ServiceScopeJSON {
  /** cluster-ip, nodeport, external-ip, loadbalancer, affinity, dsr, maglev, local */
  flags: string[];
  /** The backends that get new connections, in slot order ("ip:port"). */
  backends: string[];
}

export interface ServiceFrontendJSON {
  address: string;
  port: number;
  protocol: 'TCP' | 'UDP';
  type: ServiceFrontendType;
  /** The service port it serves. */
  portName: string;
  revNatId: number;
  internal: ServiceScopeJSON;
  external?: ServiceScopeJSON;
}

/** GET /v1/services, GET /v1/services/NS/NAME */
export interface ServiceJSON {
  namespace: string;
  name: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  /** Absent for headless services. */
  clusterIP?: string;
  headless: boolean;
  externalIPs: string[];
  loadBalancerIPs: string[];
  selector: Record<string, string>;
  sessionAffinity: 'None' | 'ClientIP';
  sessionAffinityTimeoutSeconds?: number;
  externalTrafficPolicy?: 'Cluster' | 'Local';
  internalTrafficPolicy: 'Cluster' | 'Local';
  /** External traffic: the annotation's mode, else the agent's --lb-mode. */
  forwardingMode: 'snat' | 'dsr';
  ports: ServicePortJSON[];
  frontends: ServiceFrontendJSON[];
  /** Why part of the service is not programmed (SCTP ports, frontend clashes, ...). */
  warnings?: string[];
}

/** PUT /v1/services/backends/state */
export interface BackendStateRequest {
  /** "ADDR:PORT" */
  address: string;
  state: 'active' | 'maintenance';
}
export interface BackendStateResponse {
  address: string;
  state: 'active' | 'maintenance';
  /** The services with this backend. */
  services: string[];
}

// --- identities and policy ----------------------------------------------------

/** GET /v1/identities, GET /v1/identities/ID */
export interface IdentityJSON {
  id: number;
  kind: 'reserved' | 'endpoint' | 'cidr';
  /** Identity labels, Cilium style: `k8s:app` → `web`, `reserved:host` → ``, `cidr:10.0.0.0/8` → ``. */
  labels: Record<string, string>;
  /** Local endpoints with this identity ("namespace/pod" or the endpoint id). */
  endpoints: string[];
}

/** One entry of an endpoint's realized policy: what mb_policy holds for it. */
export interface PolicyEntryJSON {
  direction: 'ingress' | 'egress';
  /** Remote identity; 0 = any. */
  identity: number;
  /** The identity's labels shown short (e.g. `k8s:pod=a,k8s:io.kubernetes.pod.namespace=x`), or `any`. */
  peer: string;
  protocol: 'ANY' | 'TCP' | 'UDP' | 'SCTP' | string;
  /** `any`, `80`, or a range `32768-33023` (one prefix of the map). */
  port: string;
  verdict: 'allow' | 'deny';
  /** The rule that put it there, e.g. `NetworkPolicy x/allow-a spec.ingress[0]`. */
  rule: string;
}

/** The policy an endpoint is under, as programmed. Part of GET /v1/endpoints/REF. */
export interface RealizedPolicyJSON {
  identity: number;
  ingressEnforced: boolean;
  egressEnforced: boolean;
  /** Denials are reported (AUDIT), not enforced: the endpoint's or the node's setting. */
  auditMode: boolean;
  /** The policies that select it: `Kind namespace/name`. */
  policies: string[];
  entries: PolicyEntryJSON[];
}

/** GET /v1/policies */
export interface PolicyJSON {
  kind: 'NetworkPolicy' | 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy';
  namespace?: string;
  name: string;
  /** The local endpoints it selects ("namespace/pod"). */
  endpoints: string[];
  /** Directions it puts its endpoints into default deny for. */
  defaultDeny: Array<'ingress' | 'egress'>;
  /** Number of rules (allow and deny) over all its parts. */
  rules: number;
  /** The stored, validated spec (the policy model of src/policy/types.ts). */
  spec: unknown;
}

/** POST /v1/policy/trace */
export interface TraceRequest {
  /** "namespace/pod", an endpoint id, or an IPv4 address. */
  from: string;
  to: string;
  /** 1-65535 */
  port: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface TraceStepJSON {
  /** The endpoint whose policy judged. */
  endpoint: string;
  direction: 'ingress' | 'egress';
  enforced: boolean;
  verdict: 'allowed' | 'denied' | 'audit';
  /** L3-Only, L3-L4, L4-Only, all, none */
  match: string;
  /** The deciding rule, when one matched. */
  rule?: string;
  explanation: string;
}

export interface TraceResponse {
  from: { ref: string; ip: string; identity: number; labels: Record<string, string> };
  to: { ref: string; ip: string; identity: number; labels: Record<string, string> };
  port: number;
  protocol: string;
  steps: TraceStepJSON[];
  verdict: 'allowed' | 'denied' | 'audit';
  /** One line per step and the conclusion, for people. */
  explanation: string[];
}
