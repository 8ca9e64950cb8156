#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A backend of the ecmp topology: greets each connection with its name and the peer's
address (which ringlb host connected), then echoes every byte until the peer closes.

Usage: ecmp-backend.py NAME ADDRESS PORT
"""
import asyncio
import sys


async def serve(reader, writer, name):
    peer = writer.get_extra_info("peername")[0]
    writer.write(f"{name} {peer}\n".encode())
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.write_eof()
        await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def main():
    name, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    server = await asyncio.start_server(
        lambda r, w: serve(r, w, name), address, port, backlog=1024, reuse_address=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
