using System.Text;
using System.Text.Json;
using Orleans.AiFleet.GrainInterfaces.Inference;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>A chat request as the router takes it, read from the typed body and the routing-policy headers.</summary>
internal sealed record ParsedChat(string Model, string Prompt, int MaxTokens, double Temperature, int? Seed, bool Stream, RoutingPolicy? Policy);

/// <summary>
/// Checks a <c>/v1/chat/completions</c> body past what its types say: required fields, bounds, the prompt (the last
/// user message's text), and the routing policy. Every refusal is a 400 naming the field.
/// </summary>
internal static class ChatBodyParser
{
    public static IResult? Parse(ChatBody body, IHeaderDictionary headers, out ParsedChat? parsed)
    {
        parsed = null;
        if (body.Model is not { Length: > 0 } model)
        {
            return OpenAiErrors.Invalid("'model' is required and must be a string", "model");
        }

        if (!InputBounds.IsModelName(model))
        {
            return OpenAiErrors.Invalid($"'model' must be at most {InputBounds.MaxNameLength} letters, digits, '.', '_' or '-'", "model");
        }

        if (body.Messages is not { Count: > 0 } messages)
        {
            return OpenAiErrors.Invalid("'messages' is required and must be a non-empty array", "messages");
        }

        if (messages.Count > InputBounds.MaxMessages)
        {
            return OpenAiErrors.Invalid($"'messages' holds at most {InputBounds.MaxMessages} messages", "messages");
        }

        string? prompt = null;
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i] is not { Role: { } role } message)
            {
                return OpenAiErrors.Invalid("each message needs a 'role'", $"messages[{i}].role");
            }

            if (role == ChatRole.User)
            {
                if (ReadContent(message.Content, i, out var text) is { } invalid)
                {
                    return invalid;
                }

                prompt = text;
            }
        }

        if (string.IsNullOrEmpty(prompt))
        {
            return OpenAiErrors.Invalid("'messages' must hold a user message with text content", "messages");
        }

        if (prompt.Length > InputBounds.MaxPromptLength)
        {
            return OpenAiErrors.Invalid($"the prompt is longer than {InputBounds.MaxPromptLength} characters", "messages");
        }

        var (maxTokens, maxName) = body.MaxCompletionTokens is { } completion ? (completion, "max_completion_tokens")
            : body.MaxTokens is { } max ? (max, "max_tokens") : (ChatApi.DefaultMaxTokens, "max_tokens");
        if (maxTokens < 1)
        {
            return OpenAiErrors.Invalid($"'{maxName}' must be a positive integer", maxName);
        }

        var temperature = body.Temperature ?? 1.0;
        if (temperature is < 0 or > 2 || double.IsNaN(temperature))
        {
            return OpenAiErrors.Invalid("'temperature' must be a number from 0 to 2", "temperature");
        }

        if (body.N is { } n && n != 1)
        {
            return OpenAiErrors.Invalid("only 'n': 1 is supported", "n");
        }

        if (body.Tools is { ValueKind: JsonValueKind.Array } tools && tools.GetArrayLength() > 0)
        {
            return OpenAiErrors.Invalid("tools are not supported by the self-hosted models", "tools");
        }

        if (ParsePolicy(body, headers, out var policy) is { } invalidPolicy)
        {
            return invalidPolicy;
        }

        parsed = new ParsedChat(model, prompt, maxTokens, temperature, body.Seed, body.Stream == true, policy);
        return null;
    }

    /// <summary>A user message's text: a string, or the text parts of an array of content parts.</summary>
    private static IResult? ReadContent(JsonElement content, int index, out string? text)
    {
        text = null;
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                text = content.GetString();
                return null;
            case JsonValueKind.Array:
                var builder = new StringBuilder();
                var part = 0;
                foreach (var p in content.EnumerateArray())
                {
                    var field = $"messages[{index}].content[{part++}]";
                    if (p.ValueKind != JsonValueKind.Object || !p.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                    {
                        return OpenAiErrors.Invalid("each content part must be an object with a string 'type'", field);
                    }

                    if (type.ValueEquals("text"))
                    {
                        if (!p.TryGetProperty("text", out var t) || t.ValueKind != JsonValueKind.String)
                        {
                            return OpenAiErrors.Invalid("a text content part needs a string 'text'", field + ".text");
                        }

                        builder.Append(t.GetString());
                    }
                    else
                    {
                        return OpenAiErrors.Invalid("only text content parts are supported", field + ".type");
                    }
                }

                text = builder.ToString();
                return null;
            case JsonValueKind.Null or JsonValueKind.Undefined:
                return null;
            default:
                return OpenAiErrors.Invalid("'content' must be a string or an array of content parts", $"messages[{index}].content");
        }
    }

    /// <summary>
    /// The routing policy for <c>model: "auto"</c>: <c>min_quality</c> (0 to 1), <c>max_latency_ms</c> and <c>tier</c>,
    /// from the body or, for SDKs that cannot add body fields, the <c>x-aifleet-min-quality</c>,
    /// <c>x-aifleet-max-latency-ms</c> and <c>x-aifleet-tier</c> headers (the body wins).
    /// </summary>
    private static IResult? ParsePolicy(ChatBody body, IHeaderDictionary headers, out RoutingPolicy? policy)
    {
        policy = null;
        var quality = body.MinQuality;
        if (quality is null && Header(headers, "x-aifleet-min-quality") is { } q)
        {
            if (!double.TryParse(q, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var value))
            {
                return OpenAiErrors.Invalid("'min_quality' must be a number from 0 to 1", "min_quality");
            }

            quality = value;
        }

        if (quality is { } minQuality && (minQuality is < 0 or > 1 || double.IsNaN(minQuality)))
        {
            return OpenAiErrors.Invalid("'min_quality' must be a number from 0 to 1", "min_quality");
        }

        var latency = body.MaxLatencyMs;
        if (latency is null && Header(headers, "x-aifleet-max-latency-ms") is { } l)
        {
            if (!int.TryParse(l, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value))
            {
                return OpenAiErrors.Invalid("'max_latency_ms' must be a positive integer (milliseconds)", "max_latency_ms");
            }

            latency = value;
        }

        if (latency is < 1)
        {
            return OpenAiErrors.Invalid("'max_latency_ms' must be a positive integer (milliseconds)", "max_latency_ms");
        }

        var tier = body.Tier ?? Header(headers, "x-aifleet-tier");
        if (tier is { Length: 0 or > InputBounds.MaxNameLength })
        {
            return OpenAiErrors.Invalid("'tier' must name a model tier", "tier");
        }

        if (quality is not null || latency is not null || tier is not null)
        {
            policy = new RoutingPolicy(quality, latency, tier);
        }

        return null;
    }

    private static string? Header(IHeaderDictionary headers, string name) => headers.TryGetValue(name, out var h) && h.Count > 0 ? h[0] : null;
}
