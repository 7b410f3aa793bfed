"""The classic order workflow as a plain script: kill it, suspend it, resume it; nothing repeats.

Reserve inventory, take the payment (retried on transient errors), and if the payment needs a
review, notify the fraud team and wait for an approval event raced against a 2-hour timer. Then
deduct the inventory, send a confirmation, sleep 24 hours and send a follow-up. If the order fails
(rejected, no approval in time, payment impossible, cancelled), refund the payment and release
the inventory: compensation.

    python scripts/examples/shop_api.py &          # a fake shop on 127.0.0.1:8765
    durable-python run --suspend scripts/examples/order_processing.py order-7 1500
    # ... exits with code 75 (suspended) while it waits for the fraud team; approve it with
    durable-python send RUN approval '{"approved": true, "by": "alice"}' --id review-7
    durable-python worker                           # resumes it now, and again in 24 hours

Durations are options (or environment variables) so tests run it in seconds:
``--approval-timeout`` (ORDER_APPROVAL_TIMEOUT), ``--follow-up-after`` (ORDER_FOLLOW_UP_AFTER),
``--retry-delay`` (ORDER_RETRY_DELAY); ``--api`` (SHOP_API) is the shop's address.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

import durable_python

parser = argparse.ArgumentParser(description="Process one order durably.")
parser.add_argument("order_id")
parser.add_argument("amount", type=float)
parser.add_argument("--api", default=os.environ.get("SHOP_API", "http://127.0.0.1:8765"))
parser.add_argument(
    "--approval-timeout",
    type=float,
    default=float(os.environ.get("ORDER_APPROVAL_TIMEOUT", 2 * 3600)),
    help="seconds to wait for the fraud team (default 2 hours)",
)
parser.add_argument(
    "--follow-up-after",
    type=float,
    default=float(os.environ.get("ORDER_FOLLOW_UP_AFTER", 24 * 3600)),
    help="seconds between confirmation and follow-up (default 24 hours)",
)
parser.add_argument(
    "--retry-delay",
    type=float,
    default=float(os.environ.get("ORDER_RETRY_DELAY", 2)),
    help="seconds before the first payment retry (doubling after each)",
)
parser.add_argument("--payment-attempts", type=int, default=5)
args = parser.parse_args()
order_id = args.order_id


class TransientError(Exception):
    """The shop answered 5xx or could not be reached: the call may be tried again."""


class OrderFailed(Exception):
    """The order cannot go on; what was done so far is compensated."""


@durable_python.activity
def shop(path, payload):
    """One call to the shop's API: recorded as a whole, never repeated once it returned."""
    request = urllib.request.Request(
        args.api + path,
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            "Idempotency-Key": durable_python.idempotency_key(),
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise TransientError(f"{path}: HTTP {exc.code}") from None
        raise OrderFailed(f"{path}: HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise TransientError(f"{path}: {exc.reason}") from None


def say(message):
    print(f"[{order_id}] {message}", flush=True)


def take_payment(amount):
    delay = args.retry_delay
    for attempt in range(1, args.payment_attempts + 1):
        try:
            return shop("/payments", {"order": order_id, "amount": amount})
        except TransientError as exc:
            if attempt == args.payment_attempts:
                raise
            say(f"payment attempt {attempt} failed ({exc}); retrying in {delay:g} s")
            time.sleep(delay)
            delay *= 2


reservation = shop("/inventory/reserve", {"order": order_id, "sku": "widget", "quantity": 1})
say(f"inventory reserved ({reservation['reservation']})")
payment = None
try:
    payment = take_payment(args.amount)
    say(f"payment {payment['payment']}: {payment['status']}")
    if payment["status"] == "review":
        run = durable_python.run_id()
        shop(
            "/notify",
            {
                "to": "fraud-team",
                "order": order_id,
                "amount": args.amount,
                "approve_with": f"durable-python send {run} approval '{{\"approved\": true}}'",
            },
        )
        say("payment needs a review; fraud team notified, waiting for approval")
        try:
            decision = durable_python.wait_for_event("approval", timeout=args.approval_timeout)
        except TimeoutError:
            raise OrderFailed(f"no approval within {args.approval_timeout:g} s") from None
        reviewer = decision.get("by", "the fraud team")
        if not decision.get("approved"):
            raise OrderFailed(f"payment rejected by {reviewer}")
        say(f"payment approved by {reviewer}")
    shop("/inventory/deduct", {"order": order_id})
    shop("/email", {"order": order_id, "kind": "confirmation"})
    say("confirmation sent")
except (OrderFailed, TransientError, durable_python.Cancelled) as failure:
    say(f"order failed: {failure}; compensating")
    if payment is not None:
        shop("/payments/refund", {"order": order_id, "payment": payment["payment"]})
        say("payment refunded")
    shop("/inventory/release", {"order": order_id})
    say("inventory released")
    if isinstance(failure, durable_python.Cancelled):
        raise
    sys.exit(1)

time.sleep(args.follow_up_after)
shop("/email", {"order": order_id, "kind": "follow-up"})
say("follow-up sent; order complete")
