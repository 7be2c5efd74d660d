"""SSE framing and token counting of OpenAI stream chunks: counts never come from text."""

from llem_server._sse import SseParser, read_chunk


def _events(lines):
    parser = SseParser()
    out = [d for line in lines if (d := parser.feed(line)) is not None]
    tail = parser.flush()
    return out + ([tail] if tail is not None else [])


def test_events_are_joined_data_lines_ended_by_a_blank_line():
    lines = [": keep-alive", 'data: {"a":', "data: 1}", "", "event: x", "data:[DONE]", ""]
    assert _events(lines) == ['{"a":\n1}', "[DONE]"]


def test_an_unterminated_last_event_is_flushed():
    assert _events(["data: x"]) == ["x"]


def test_completions_chunk_with_empty_text_is_one_token():
    chunk = read_chunk({"choices": [{"text": "", "finish_reason": None}]}, "completions")
    assert (chunk.tokens, chunk.finished) == (1, False)


def test_token_ids_count_every_token_of_a_chunk():
    chunk = read_chunk(
        {"choices": [{"text": "ab", "token_ids": [5, 6, 7], "finish_reason": "length"}]}, "completions"
    )
    assert (chunk.tokens, chunk.finished) == (3, True)


def test_chat_role_announcement_carries_no_token_but_an_empty_delta_does():
    assert read_chunk({"choices": [{"delta": {"role": "assistant", "content": ""}}]}, "chat").tokens == 0
    assert read_chunk({"choices": [{"delta": {"content": ""}}]}, "chat").tokens == 1
    assert read_chunk({"choices": [{"delta": {}, "finish_reason": "stop"}]}, "chat").tokens == 0


def test_usage_chunk_reports_counts_and_no_token():
    chunk = read_chunk({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}, "completions")
    assert (chunk.tokens, chunk.prompt_tokens, chunk.completion_tokens) == (0, 9, 4)


def test_error_payload_in_the_stream_is_an_error():
    assert read_chunk({"error": {"message": "overloaded"}}, "completions").error == "overloaded"


def test_chunks_are_reconciled_with_the_usage_count():
    from llem_server._request import reconcile

    assert reconcile([1, 1, 1], 3) == [1, 1, 1]
    assert reconcile([1, 1, 1], 5) == [1, 1, 3]  # tokens the chunks did not show came with the last one
    assert reconcile([1, 1, 1, 1], 3) == [1, 1, 1]  # an empty closing chunk carried none
    assert reconcile([2, 1], 1) == [1]
