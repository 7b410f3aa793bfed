"""A tool-calling agent loop with the official ``openai`` SDK: ask, run the tools, ask again.

Offline, against the fake API beside it:

    python scripts/examples/fake_llm_api.py --port 8766 &
    durable-python run scripts/examples/llm_agent.py "What is the weather in Paris and Tokyo?"

It is a plain script (``python llm_agent.py ...`` runs it too, without durability). Under
durable-python every model reply and tool result is recorded: ``kill -9`` it in the middle and run
the same command again, and it resumes where it was, without asking the model again for the turns
already answered (no second bill for them). ``OPENAI_BASE_URL`` (default the fake on port 8766)
and ``OPENAI_API_KEY`` point it at another server.
"""

from __future__ import annotations

import json
import os
import sys
import time

from openai import OpenAI

MODEL = "gpt-4o-mini"
WEATHER = {
    "paris": "18C sunny",
    "tokyo": "24C cloudy",
    "lima": "20C overcast",
    "oslo": "6C rain",
    "cairo": "33C clear",
    "london": "14C drizzle",
    "berlin": "16C windy",
    "sydney": "22C clear",
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The current weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "a city name"}},
                "required": ["city"],
            },
        },
    }
]


def get_weather(city: str) -> str:
    """The weather in ``city`` (a local table, so the demo is deterministic)."""
    return WEATHER.get(city.strip().lower(), "unknown")


def run_tool(name: str, arguments: str) -> str:
    """Run one tool call of the model; errors go back to the model as text."""
    if name != "get_weather":
        return f"error: no tool named {name}"
    try:
        return get_weather(**json.loads(arguments or "{}"))
    except (TypeError, ValueError) as error:
        return f"error: {error}"


def main() -> int:
    question = " ".join(sys.argv[1:]) or "What is the weather in Paris and Tokyo?"
    client = OpenAI(
        base_url=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8766/v1"),
        api_key=os.environ.get("OPENAI_API_KEY", "test"),
    )
    messages: list[dict] = [
        {"role": "system", "content": "You answer questions about the weather."},
        {"role": "user", "content": question},
    ]
    for turn in range(1, 11):
        reply = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS)
        message = reply.choices[0].message
        if not message.tool_calls:
            print(f"turn {turn}: final answer")
            print(message.content)
            return 0
        print(f"turn {turn}: {len(message.tool_calls)} tool calls")
        messages.append(
            {
                "role": "assistant",
                "content": message.content,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.function.name,
                            "arguments": call.function.arguments,
                        },
                    }
                    for call in message.tool_calls
                ],
            }
        )
        for call in message.tool_calls:
            result = run_tool(call.function.name, call.function.arguments)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": result})
        time.sleep(0.2)  # demo pacing: room to kill -9 it between turns
    print("no final answer after 10 turns", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
