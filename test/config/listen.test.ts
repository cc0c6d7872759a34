import { expect } from 'chai';
import { isLoopback, parseListen } from '../../src/config/listen.js';

const TCP_HELP = 'is invalid; expected HOST:PORT such as "127.0.0.1:8080" (port 0..65535)';

describe('parseListen', () => {
  it('reads HOST:PORT', () => {
    expect(parseListen('127.0.0.1:8080')).to.deep.equal({ address: { kind: 'tcp', host: '127.0.0.1', port: 8080 } });
    expect(parseListen('localhost:0')).to.deep.equal({ address: { kind: 'tcp', host: 'localhost', port: 0 } });
    expect(parseListen('0.0.0.0:80')).to.deep.equal({ address: { kind: 'tcp', host: '0.0.0.0', port: 80 } });
    expect(parseListen('example.com:443')).to.deep.equal({ address: { kind: 'tcp', host: 'example.com', port: 443 } });
    expect(parseListen('127.0.0.1:65535')).to.deep.equal({ address: { kind: 'tcp', host: '127.0.0.1', port: 65535 } });
  });

  it('reads a bracketed IPv6 host without its brackets', () => {
    expect(parseListen('[::1]:8080')).to.deep.equal({ address: { kind: 'tcp', host: '::1', port: 8080 } });
    expect(parseListen('[::]:9')).to.deep.equal({ address: { kind: 'tcp', host: '::', port: 9 } });
  });

  it('reads unix:/absolute/path', () => {
    expect(parseListen('unix:/run/watchbell/api.sock')).to.deep.equal({ address: { kind: 'unix', path: '/run/watchbell/api.sock' } });
  });

  it('rejects a relative or empty socket path', () => {
    expect(parseListen('unix:api.sock')).to.deep.equal({ error: 'is invalid; expected unix:/absolute/path' });
    expect(parseListen('unix:')).to.deep.equal({ error: 'is invalid; expected unix:/absolute/path' });
  });

  it('rejects a missing host or port, a port above 65535 and an unbracketed IPv6 host', () => {
    for (const text of ['', '127.0.0.1', ':8080', '127.0.0.1:', '127.0.0.1:65536', 'host:123456', '127.0.0.1:-1', '::1:8080', '[::1]8080', 'a b:1', 'host:http']) {
      expect(parseListen(text), JSON.stringify(text)).to.deep.equal({ error: TCP_HELP });
    }
  });

  it('rejects brackets around something that is not an IPv6 address', () => {
    expect(parseListen('[zz]:1')).to.deep.equal({ error: TCP_HELP });
  });
});

describe('isLoopback', () => {
  it('is true for localhost, ::1 and 127.0.0.0/8', () => {
    for (const host of ['localhost', '::1', '127.0.0.1', '127.1.2.3', '127.255.255.254']) expect(isLoopback(host), host).to.equal(true);
  });

  it('is false for everything else', () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.1', '10.0.0.1', '128.0.0.1', '127.0.0.1.nip.io', 'localhost.example.com', 'example.com', '']) {
      expect(isLoopback(host), host).to.equal(false);
    }
  });

  it('agrees with parseListen on bracketed IPv6', () => {
    const { address } = parseListen('[::1]:8080');
    expect(address?.kind === 'tcp' && isLoopback(address.host)).to.equal(true);
  });
});
