#!/usr/bin/env node
// nxdns.js - the docker lab's tiny upstream DNS server (plain CommonJS, no dependencies).
//
//   node test/docker/nxdns.js <bind-address> [port]      (lab.sh runs it on 172.17.0.1:53)
//
// Why: Docker's embedded DNS (127.0.0.11 in every container on a compose network) answers the
// names of running containers itself and forwards every other name to the daemon's upstream DNS
// (`dockerd --dns`), from inside the container's network namespace. The lab daemon runs without
// NAT or IP forwarding, so a forwarded query would go nowhere: a lookup of a STOPPED compose service
// (`nginx` after `docker-compose stop nginx`) would hang ~10 s and end in EAI_AGAIN. On a normal
// Docker host it fails at once with NXDOMAIN (ENOTFOUND). This stub, bound to the docker0 address
// only, restores that behaviour without sending container traffic off the machine:
//   - single-label names (compose service names): NXDOMAIN at once;
//   - dotted names: looked up with the host's own resolver (A and AAAA; other types get an empty
//     answer), so a name resolves in a container as it would on the host.
// It answers UDP only (answers are small and never truncated, so nobody retries over TCP).
'use strict';

const dgram = require('node:dgram');
const { Resolver } = require('node:dns').promises;

const host = process.argv[2];
const port = Number(process.argv[3] || 53);
if (!host) {
  console.error('usage: node nxdns.js <bind-address> [port]');
  process.exit(2);
}

const resolver = new Resolver({ timeout: 2000, tries: 2 }); // the host's /etc/resolv.conf servers
const TYPE_A = 1;
const TYPE_AAAA = 28;
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, FORMERR: 1 };

/** The first question of a query: name, type, and where the question ends. Throws on garbage. */
function parseQuestion(query) {
  if (query.length < 12 || query.readUInt16BE(4) < 1) throw new Error('no question');
  const labels = [];
  let i = 12;
  while (query[i] !== 0) {
    const len = query[i];
    if (len === undefined || len > 63 || i + 1 + len >= query.length) throw new Error('bad name');
    labels.push(query.subarray(i + 1, i + 1 + len).toString('latin1'));
    i += len + 1;
  }
  if (i + 5 > query.length) throw new Error('short question');
  return { name: labels.join('.'), qtype: query.readUInt16BE(i + 1), end: i + 5 };
}

/** Resource records answering `name` (pointer to the question name at offset 12). */
function answerRecords(qtype, addresses) {
  return addresses.map((address) => {
    const rdata =
      qtype === TYPE_A
        ? Buffer.from(address.split('.').map(Number))
        : Buffer.from(expandIPv6(address).map((group) => [group >> 8, group & 0xff]).flat());
    const head = Buffer.alloc(12);
    head.writeUInt16BE(0xc00c, 0); // name: pointer to the question
    head.writeUInt16BE(qtype, 2);
    head.writeUInt16BE(1, 4); // class IN
    head.writeUInt32BE(30, 6); // TTL 30 s
    head.writeUInt16BE(rdata.length, 10);
    return Buffer.concat([head, rdata]);
  });
}

function expandIPv6(address) {
  const [left, right = ''] = address.split('::');
  const l = left ? left.split(':') : [];
  const r = right ? right.split(':') : [];
  const groups = address.includes('::') ? [...l, ...Array(8 - l.length - r.length).fill('0'), ...r] : l;
  return groups.map((g) => parseInt(g, 16));
}

async function lookup(name, qtype) {
  if (!name.includes('.')) return { rcode: RCODE.NXDOMAIN, addresses: [] };
  if (qtype !== TYPE_A && qtype !== TYPE_AAAA) return { rcode: RCODE.NOERROR, addresses: [] };
  try {
    const addresses = qtype === TYPE_A ? await resolver.resolve4(name) : await resolver.resolve6(name);
    return { rcode: RCODE.NOERROR, addresses };
  } catch (error) {
    if (error.code === 'ENOTFOUND') return { rcode: RCODE.NXDOMAIN, addresses: [] };
    if (error.code === 'ENODATA') return { rcode: RCODE.NOERROR, addresses: [] };
    return { rcode: RCODE.SERVFAIL, addresses: [] };
  }
}

const socket = dgram.createSocket('udp4');

socket.on('message', async (query, peer) => {
  let reply;
  try {
    const { name, qtype, end } = parseQuestion(query);
    const { rcode, addresses } = await lookup(name, qtype);
    const head = Buffer.from(query.subarray(0, end)); // header + the one question
    head[2] = 0x80 | (query[2] & 0x79); // QR=1, keep opcode and RD
    head[3] = 0x80 | rcode; // RA=1
    const answers = answerRecords(qtype, addresses);
    head.writeUInt16BE(1, 4); // QDCOUNT
    head.writeUInt16BE(answers.length, 6); // ANCOUNT
    head.writeUInt16BE(0, 8); // NSCOUNT
    head.writeUInt16BE(0, 10); // ARCOUNT (an EDNS OPT record in the query is dropped)
    reply = Buffer.concat([head, ...answers]);
  } catch {
    if (query.length < 12) return;
    reply = Buffer.from(query.subarray(0, 12));
    reply[2] = 0x80 | (query[2] & 0x79);
    reply[3] = 0x80 | RCODE.FORMERR;
    reply.fill(0, 4, 12);
  }
  socket.send(reply, peer.port, peer.address);
});

socket.on('error', (error) => {
  console.error(`nxdns: ${error.message}`);
  process.exit(1);
});

socket.bind(port, host, () => console.log(`nxdns: listening on ${host}:${port}`));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0)); // nothing to flush: answers are fire-and-forget
}
