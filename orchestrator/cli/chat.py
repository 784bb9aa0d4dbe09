"""``attune chat``: talk to the model service from the terminal, plainly (streamed) or with memory
(``--personalized``: the extractor, retrieval and user vector remember the user across sessions)."""

from __future__ import annotations

import asyncio

from attune.orchestrator.cli.shared import console, model_target
from attune.services.common.settings import CommonSettings


async def _open_model(args, common: CommonSettings):
    """Services holding the model: a client of the running service, or (``--in-process``) the core itself."""
    from attune.orchestrator.memory import Services, open_in_process
    from attune.services.common.launch import open_client

    if args.in_process:
        with console.status("loading the model in process..."):
            return await open_in_process(common, needs=())
    opened = Services(open_client("model", common, args.target))
    opened.stack.push_async_callback(opened.model.close)
    try:
        await opened.model.wait_ready(timeout_s=args.connect_timeout)
    except BaseException:
        await opened.close()
        raise
    return opened


async def _chat(args, common: CommonSettings) -> int:
    from attune.services.model.client import chat_request

    opened = await _open_model(args, common)
    model = opened.model
    history: list[tuple[str, str]] = [("system", args.system)] if args.system else []
    inputs = iter([args.message]) if args.message else iter(_prompt, None)
    try:
        for text in inputs:
            history.append(("user", text))
            request = chat_request(history, max_tokens=args.max_tokens, temperature=args.temperature,
                                   seed=args.seed, caller_role="agent", method="vanilla")
            reply = ""
            async for chunk in model.chat_stream(request):
                reply += chunk.delta
                print(chunk.delta, end="", flush=True)
                usage = chunk.usage
            print(flush=True)
            console.print(f"[dim]{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens[/]")
            history.append(("assistant", reply))
        return 0
    finally:
        await opened.close()


def _prompt() -> str | None:
    try:
        text = input("you> ").strip()
    except EOFError:
        return None
    return text if text not in ("", "/quit", "/exit") else None


def cmd_chat(args, common: CommonSettings) -> int:
    return asyncio.run(_personalized_chat(args, common) if args.personalized else _chat(args, common))


async def _personalized_chat(args, common: CommonSettings) -> int:
    """A session with memory: preferences stated now shape replies in later sessions too."""
    from attune.orchestrator.memory import open_clients, open_in_process
    from attune.orchestrator.personalized import PersonalizedConfig, PersonalizedLLM

    if args.in_process:
        with console.status("loading the model, embedder and stores in process..."):
            memory = await open_in_process(common)
    else:
        memory = await open_clients(common, wait_s=args.connect_timeout)
    try:
        assistant = PersonalizedLLM(memory.model, memory.extractor, memory.retrieval, memory.uservec,
                                    config=PersonalizedConfig(max_tokens=args.max_tokens,
                                                              temperature=args.temperature, seed=args.seed))
        await assistant.reset_session(args.user)
        for text in iter([args.message]) if args.message else iter(_prompt, None):
            _print_reply(await assistant.chat(args.user, text))
        return 0
    finally:
        await memory.close()


def _print_reply(reply) -> None:
    """The reply on stdout; what it remembered and used, and its tokens, on the console."""
    print(reply.text, flush=True)
    for card in reply.extracted:
        console.print(f"[dim]remembered: {card.preference} ({card.condition})[/]")
    for card in reply.selected:
        console.print(f"[dim]used: {card.preference} ({card.condition})[/]")
    console.print(f"[dim]{reply.usage.prompt_tokens} prompt + {reply.usage.completion_tokens} "
                  "completion tokens[/]")


def add_parsers(sub) -> None:
    chat = sub.add_parser("chat", help="talk to the model service from the terminal")
    chat.add_argument("--target", default=model_target(), help="model service address (ATTUNE_MODEL_TARGET)")
    chat.add_argument("--in-process", action="store_true", help="load the model here instead of calling the service")
    chat.add_argument("--personalized", action="store_true",
                      help="remember the user's preferences across sessions (extractor, retrieval, user vector)")
    chat.add_argument("--user", default="me", help="user id for --personalized")
    chat.add_argument("-m", "--message", help="send one message, print the reply and exit")
    chat.add_argument("--system", default="", help="system prompt")
    chat.add_argument("--max-tokens", type=int, default=256)
    chat.add_argument("--temperature", type=float, default=0.0)
    chat.add_argument("--seed", type=int, default=0)
    chat.add_argument("--connect-timeout", type=float, default=30)
    chat.set_defaults(func=cmd_chat)
