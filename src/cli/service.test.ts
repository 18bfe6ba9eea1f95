import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tupleNum } from '../service/keys.ts';
import { BackendIds, IdAllocator } from '../service/ids.ts';
import { buildState, PROTO_NUMBER } from '../service/lbstate.ts';
import { scenario, sliceDoc, svcDoc } from '../service/testing.ts';
import { serviceView } from '../service/view.ts';
import { backendSummary, portsSummary, renderService, renderServiceList } from './service.ts';

function views(yaml: string, states: Record<string, 'maintenance'> = {}) {
  const s = scenario(yaml, { states });
  const built = buildState(s.desired, { backends: new BackendIds(), revnat: new IdAllocator('r', 1, 65535) }, { maglevSize: 251, maglevMax: 10 });
  const backendIds = new Map(s.desired.backends.map((b) => [tupleNum(b.ip, b.port, PROTO_NUMBER[b.protocol]), b.id]));
  return s.inputs.map((i) => serviceView(i.spec, i.ports, s.desired.frontends.filter((f) => f.service === `${i.spec.namespace}/${i.spec.name}`), { built, backendIds }, 'snat'));
}

const YAML = svcDoc('web', '{type: NodePort, externalIPs: [198.18.9.201], sessionAffinity: ClientIP, ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}, {name: dns, port: 53, protocol: UDP}]}') +
  sliceDoc('web-1', 'web', '[{name: http, port: 8080}, {name: dns, port: 53, protocol: UDP}]', [
    '{addresses: [10.207.0.5], nodeName: node-1, targetRef: {kind: Pod, name: web-a}}',
    '{addresses: [10.207.0.6], conditions: {ready: false, serving: true, terminating: true}, nodeName: node-2}',
    '{addresses: [10.207.0.7]}',
  ]) + svcDoc('db', '{clusterIP: None, ports: [{port: 5432}]}');

test('service list: one line per service, kubectl-like ports, backend states counted once per address', () => {
  const [web, db] = views(YAML, { '10.207.0.7:8080': 'maintenance' }).sort((a, b) => (a.name < b.name ? 1 : -1));
  assert.equal(portsSummary(web!), '80:30080/TCP,53:30086/UDP');
  assert.equal(backendSummary(web!), '3 active, 2 terminating, 1 maintenance');
  assert.equal(backendSummary(db!), '<none>');
  assert.equal(renderServiceList([web!, db!]), [
    'NAME       TYPE        CLUSTER-IP   EXTERNAL-IP    PORT(S)                     BACKENDS',
    'shop/web   NodePort    10.96.7.17   198.18.9.201   80:30080/TCP,53:30086/UDP   3 active, 2 terminating, 1 maintenance',
    'shop/db    ClusterIP   None         <none>         5432/TCP                    <none>',
    '',
  ].join('\n'));
  assert.match(renderServiceList([]), /No services/);
});

test('service get: frontends per scope with flags and the backends that get new connections; every backend with its state', () => {
  const web = views(YAML).find((s) => s.name === 'web')!;
  const out = renderService(web);
  assert.match(out, /^Name: +shop\/web$/m);
  assert.match(out, /^Affinity: +ClientIP \(10800s\)$/m);
  assert.match(out, /^ {2}10\.96\.7\.17:80\/TCP +ClusterIP +internal +1 +cluster-ip,affinity +10\.207\.0\.5:8080 10\.207\.0\.7:8080$/m);
  assert.match(out, /^ {2}198\.18\.7\.1:30080\/TCP +NodePort +external +\d +nodeport,affinity,maglev +10\.207\.0\.5:8080 10\.207\.0\.7:8080$/m);
  assert.match(out, /^ {2}198\.18\.9\.201:80\/TCP +ExternalIP +internal/m);
  assert.match(out, /^ {2}http +10\.207\.0\.6:8080\/TCP +terminating +node-2 +- +EndpointSlice +\d+$/m);
  assert.match(out, /^ {2}http +10\.207\.0\.5:8080\/TCP +active +local +shop\/web-a +EndpointSlice +\d+$/m);
  const db = views(YAML).find((s) => s.name === 'db')!;
  assert.match(renderService(db), /ClusterIP: +None \(headless: not load-balanced\)[\s\S]*Frontends:\n {2}<none>/);
});
