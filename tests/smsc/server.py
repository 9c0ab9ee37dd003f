"""A test SMSC: smpp34's SMPP 3.4 server (Rust, independent of the engine's client), in its
own process, with a JSON-lines control port for the tests:

  {"cmd": "deliver", "source": "...", "destination": "...", "body_hex": "...", "data_coding": 8, "esm_class": 64}
  {"cmd": "submits"}        -> every submit_sm received so far
  {"cmd": "throttle", "n": 3}  -> answer the next n submits with ESME_RTHROTTLED
  {"cmd": "receipts", "stat": "DELIVRD"}  -> send a delivery receipt for every accepted submit that asked

Run: python -m tests.smsc.server SMPP_PORT CONTROL_PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import smpp34

ESME_RTHROTTLED = 0x58


class Smsc:
    def __init__(self, port: int):
        self.server = smpp34.Server(host="127.0.0.1", port=port, system_id="TESTSMSC")
        self.sessions: dict[str, smpp34.Esme] = {}
        self.submits: list[dict] = []
        self.throttle = 0
        self.receipt_stat: str | None = None
        self.next_id = 1

    async def run(self) -> None:
        while True:
            event = await self.server.next()
            if isinstance(event, smpp34.Esme):
                self.sessions[event.session_id] = event
            elif isinstance(event, smpp34.Unbound):
                self.sessions.pop(event.session_id, None)
            elif isinstance(event, smpp34.SubmitSmEvent):
                await self._submitted(event)

    async def _submitted(self, event) -> None:
        record = {"source": event.source_addr, "destination": event.destination_addr,
                  "data_coding": event.data_coding, "esm_class": event.esm_class,
                  "registered_delivery": event.registered_delivery, "body_hex": event.short_message.hex(),
                  "at": time.time()}
        if self.throttle > 0:
            self.throttle -= 1
            record["answer"] = "throttled"
            self.submits.append(record)
            event.reject(ESME_RTHROTTLED)
            return
        message_id = f"{self.next_id:08X}"
        self.next_id += 1
        record.update(answer="accepted", message_id=message_id)
        self.submits.append(record)
        event.accept(message_id=message_id)
        if self.receipt_stat and event.registered_delivery & 0x01:
            text = f"id:{message_id} sub:001 dlvrd:001 submit date:2611230000 done date:2611230000 " \
                   f"stat:{self.receipt_stat} err:000 text:"
            session = self.sessions.get(event.session_id)
            if session is not None:
                await session.deliver_sm(source_addr=event.destination_addr, destination_addr=event.source_addr,
                                         esm_class=0x04, short_message=text.encode())

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            request = json.loads(line)
            try:
                answer = await self._command(request)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        writer.close()

    async def _command(self, request: dict) -> dict:
        cmd = request["cmd"]
        if cmd == "submits":
            return {"submits": self.submits}
        if cmd == "throttle":
            self.throttle = request["n"]
            return {"ok": True}
        if cmd == "receipts":
            self.receipt_stat = request["stat"]
            return {"ok": True}
        if cmd == "bound":
            return {"sessions": [s.system_id for s in self.sessions.values()]}
        if cmd == "flood":
            # n deliver_sm to the bound ESME, `window` awaiting their answer at once; the rate
            # at which they were answered.
            receivers = [s for s in self.sessions.values() if s.can_receive]
            if not receivers:
                return {"error": "no ESME is bound to receive"}
            esme, window = receivers[0], asyncio.Semaphore(request.get("window", 10))
            statuses: list[int] = []

            async def one(i: int) -> None:
                async with window:
                    text = f"{request.get('text', 'message')} {i}".encode()
                    resp = await esme.deliver_sm(source_addr=f"86138{i % 2000:08d}", destination_addr=request["destination"],
                                                 short_message=text, source_addr_ton=1)
                    statuses.append(resp.command_status)
            started = asyncio.get_running_loop().time()
            await asyncio.gather(*(one(i) for i in range(request["n"])))
            elapsed = asyncio.get_running_loop().time() - started
            return {"per_s": request["n"] / elapsed, "ok": statuses.count(0), "seconds": elapsed}
        if cmd == "deliver":
            receivers = [s for s in self.sessions.values() if s.can_receive]
            if not receivers:
                return {"error": "no ESME is bound to receive"}
            resp = await receivers[0].deliver_sm(
                source_addr=request["source"], destination_addr=request["destination"],
                source_addr_ton=request.get("source_ton", 1),
                short_message=bytes.fromhex(request["body_hex"]), data_coding=request.get("data_coding", 0),
                esm_class=request.get("esm_class", 0))
            return {"status": resp.command_status}
        return {"error": f"unknown command {cmd!r}"}


async def main(port: int, control_port: int) -> None:
    smsc = Smsc(port)
    await smsc.server.start()
    control = await asyncio.start_server(smsc.control, "127.0.0.1", control_port)
    print("ready", flush=True)
    async with control:
        await smsc.run()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
