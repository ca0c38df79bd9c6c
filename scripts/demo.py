#!/usr/bin/python3
"""`make run`: a local Prosody on loopback (virtual hosts no.test and dk.test, non-default
ports), demo counsellor accounts, the gateway with conf/demo.cfg and its channels; prints
how to try it; Ctrl-C stops everything it started.  State lives in var/demo/."""

import os
import signal
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness  # noqa: E402

STATE = os.path.join(REPO, "var", "demo")
BUILD = os.environ.get("SKAGERRAK_BUILD", "build")
C2S, COMPONENT, HTTP = 15222, 15347, 18080
SMS_API, SMS_CONTROL = 18181, 18182   # the local GatewayAPI test provider
USERS = {"kari@no.test": "kari-demo", "ola@no.test": "ola-demo", "sjef@no.test": "sjef-demo",
         "mette@dk.test": "mette-demo"}


def main():
    os.makedirs(STATE, exist_ok=True)
    secret_path = os.path.join(STATE, "component.secret")
    if not os.path.exists(secret_path):
        with open(secret_path, "w") as f:
            f.write(os.urandom(16).hex() + "\n")
        os.chmod(secret_path, 0o600)
    secret = open(secret_path).read().strip()
    prosody = harness.Prosody(os.path.join(STATE, "prosody"), hosts=["no.test", "dk.test"],
                              components={"gw.no.test": secret}, c2s_port=C2S,
                              component_port=COMPONENT, log_level="info")
    for jid, pw in USERS.items():
        prosody.adduser(jid, pw)
    plugins = []
    if os.path.exists(os.path.join(REPO, BUILD, "plugins", "webchat.so")):
        plugins.append('webchat = { static_dir = "%s/plugins/webchat/static"; '
                       'allowed_origins = [ "http://127.0.0.1:%d" ]; queue = "general"; };'
                       % (REPO, HTTP))
    sms = None
    if os.path.exists(os.path.join(REPO, BUILD, "plugins", "sms.so")):
        hook = "http://127.0.0.1:%d/sms/gatewayapi/dk" % HTTP
        sms = subprocess.Popen(
            ["/usr/bin/python3", os.path.join(REPO, "tests", "fakes", "fake_gatewayapi.py"),
             "--api-port", str(SMS_API), "--control-port", str(SMS_CONTROL),
             "--mo-url", hook + "/mo", "--dlr-url", hook + "/dlr"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(STATE, "sms-provider.log"), "w"))
        sms.stdout.readline()  # its ports line: it is listening
        plugins.append('sms = { public_url = "http://127.0.0.1:%d"; numbers = ( { id = "dk"; '
                       'number = "+4560000000"; provider = "gatewayapi"; queue = "general"; '
                       'lang = "da"; base_url = "http://127.0.0.1:%d"; token = "gwtoken"; '
                       'webhook_secret = "jwtsecret"; } ); };' % (HTTP, SMS_API))
    plugins.append("loopback = { };")
    text = open(os.path.join(REPO, "conf", "demo.cfg")).read()
    for k, v in {"@STATE@": STATE, "@REPO@": REPO, "@BUILD@": os.path.join(REPO, BUILD),
                 "@COMPONENT_PORT@": str(COMPONENT), "@HTTP_PORT@": str(HTTP),
                 "@PLUGINS@": "\n  ".join(plugins)}.items():
        text = text.replace(k, v)
    prosody.start()
    gw = harness.Gateway(os.path.join(REPO, BUILD, "skagerrak"), text, STATE)
    gw.start()
    try:
        gw.wait_log(r"component gw\.no\.test online", timeout=20)
    except harness.HarnessError as e:
        print("the gateway did not come up:", e)
        print(open(gw.log_path).read()[-3000:])
        prosody.stop()
        if sms:
            sms.terminate()
        return 1
    web = "http://127.0.0.1:%d/webchat/" % HTTP
    print("""
  Skagerrak demo is running (all on 127.0.0.1; state in var/demo/, gateway log in
  var/demo/skagerrak.log).

  1. Log in as a counsellor from any XMPP client (Gajim, Dino, Profanity, Psi...):
       account  kari@no.test   password kari-demo     (also ola@no.test / ola-demo,
                                                       supervisor sjef@no.test / sjef-demo)
       server   127.0.0.1, port %(c2s)d, plain connection allowed (demo only, loopback)
  2. Sign in to the queue: add the contact general@gw.no.test (or send it presence).
     Write !help to it to see the commands.
  3. Be a seeker:
       web chat:  %(web)s  (if the web chat plugin is built)
       or from a shell (the test channel):
         curl -s -XPOST http://127.0.0.1:%(http)d/loopback/inbound \\
              -d '{"address":"+4791234567","body":"Hei! Kan dere hjelpe meg?","lang":"nb"}'
     The seeker appears to Kari as a new contact offering the conversation: reply !accept.
     by SMS (a local test GatewayAPI: it signs its webhooks like the real one):
         curl -s -XPOST http://127.0.0.1:%(ctl)d/mo -d '{"text":"Hej, kan I hjælpe?","from":"+4520123456"}'
       and see the texts the gateway sent back:  curl -s http://127.0.0.1:%(ctl)d/calls
  4. Health: http://127.0.0.1:%(http)d/health

  Ctrl-C stops Prosody and the gateway.
""" % {"c2s": C2S, "web": web, "http": HTTP, "ctl": SMS_CONTROL})
    stop = []
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    while not stop and gw.proc.poll() is None:
        signal.pause() if hasattr(signal, "pause") else time.sleep(1)
    print("\nstopping...")
    gw.stop()
    prosody.stop()
    if sms:
        sms.terminate()
        sms.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
