"""The seed's sending loop on Telethon, against the MTProto test server (bench/vs-telethon).

Reads a JSON job on stdin: {"api_id", "api_hash", "text", "delay", "idle",
"accounts": [{"session": StringSession, "chats": [[channel_id, access_hash], ...]}]}.
Each account connects and sends the text to each of its chats in turn, sleeping `delay`
seconds between chats, all accounts concurrently (the seed's asyncio loop). With "idle",
prints "ready" once every account sent its first message and sleeps until killed.
"""
import asyncio
import json
import sys

from telethon import TelegramClient
from telethon.sessions import StringSession
from telethon.tl.types import InputPeerChannel


async def account(job, acc, ready):
    client = TelegramClient(StringSession(acc["session"]), job["api_id"], job["api_hash"])
    await client.connect()
    first = True
    for channel_id, access_hash in acc["chats"]:
        await client.send_message(InputPeerChannel(channel_id, access_hash), job["text"])
        if first:
            ready.append(1)
            first = False
        if job["delay"]:
            await asyncio.sleep(job["delay"])
    return client


async def main():
    job = json.load(sys.stdin)
    ready = []
    clients = await asyncio.gather(*(account(job, a, ready) for a in job["accounts"]))
    if job.get("idle"):
        print("ready", flush=True)
        await asyncio.sleep(3600)
    for c in clients:
        await c.disconnect()


asyncio.run(main())
