#!/usr/bin/env python3
# Used by make-c-xenstored-vectors.sh; see README.md.
# Holds connections open on the reference C xenstored so a live-update dump
# captures them: a socket conn with an open transaction and a partial request,
# a guest (dom1) ring with watches, pending output and a partial request.
import os, sys, time, struct
sys.path.insert(0, '/work/shared/peers/xenstored')
import xsraw
rundir = sys.argv[1]
quiet = lambda *a: None
log = print if os.environ.get('VERBOSE') else quiet
s = xsraw.Sock(rundir + '/socket', 'sock', log)
# dom0 socket: open a transaction and write a pending node inside it
r = s.rpc('TRANSACTION_START', b'\0')
tx = int(r[3].rstrip(b'\0'))
print('tx', tx, flush=True)
s.rpc('WRITE', b'/tx/pending\0inside-tx', tx_id=tx)
s.rpc('READ', b'/tool/xenstored\0', tx_id=tx)
s.rpc('RM', b'/tx/gone\0', tx_id=tx)
# introduce dom1 (shim provides its ring page)
s.rpc('INTRODUCE', b'1\x00123\x007\x00')
s.rpc('INTRODUCE', b'2\x00456\x009\x00')
s.rpc('SET_TARGET', b'2\x001\x00')
g = xsraw.Ring(1, rundir + '/shim-virq', 'dom1', log)
g.rpc('WRITE', b'data/hello\0from-guest')
g.rpc('WATCH', b'data\0guest-token\0')
# watch event for the registration itself fires; read it
g.reply()
g.rpc('WATCH', b'@releaseDomain\0rel\0')
g.reply()
# flood watch events that the guest does not consume: fills the 1 KiB response ring
for i in range(40):
    s.rpc('WRITE', b'/local/domain/1/data/flood\0' + (b'v%02d' % i) * 8)
# partial request from the guest: header says 20 bytes, send only 5 of them
g.send(struct.pack('<IIII', xsraw.T['WRITE'], 99, 0, 20) + b'data/')
# partial request on a second socket
s2 = xsraw.Sock(rundir + '/socket', 'sock2', log)
s2.rpc('WATCH', b'/tool\0tooltok\0')
s2.reply()
s2.send(struct.pack('<IIII', xsraw.T['READ'], 5, 0, 12) + b'/too')
print('ready', flush=True)
# hold everything open until told to stop
for _ in range(600):
    if os.path.exists(rundir + '/driver.stop'): break
    time.sleep(0.1)
