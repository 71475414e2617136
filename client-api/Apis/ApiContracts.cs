using System.Text.Json;
using System.Text.Json.Serialization;

namespace Orleans.AiFleet.ClientApi.Apis;

/// <summary>
/// The typed request bodies of the <c>/v1</c>, course and admin routes. Bound by System.Text.Json with source generation
/// (<see cref="ApiJsonContext"/>): a field of the wrong type, an unknown enum string or a number out of its type's range
/// fails the read, and the failure handler answers 400 naming the field from the reader's path. Fields OpenAI's SDKs
/// send that we do not use are ignored.
/// </summary>
internal sealed record EmbeddingsBody(
    string? Model,
    JsonElement Input,
    [property: JsonPropertyName("encoding_format")] EncodingFormat? EncodingFormat,
    string? User,
    int? Dimensions);

[JsonConverter(typeof(StrictEnumConverter<EncodingFormat>))]
internal enum EncodingFormat
{
    Float,
    Base64,
}

internal sealed record ChatBody(
    string? Model,
    IReadOnlyList<ChatMessageBody?>? Messages,
    [property: JsonPropertyName("max_tokens")] int? MaxTokens,
    [property: JsonPropertyName("max_completion_tokens")] int? MaxCompletionTokens,
    double? Temperature,
    int? Seed,
    int? N,
    bool? Stream,
    JsonElement? Tools,
    [property: JsonPropertyName("min_quality")] double? MinQuality,
    [property: JsonPropertyName("max_latency_ms")] int? MaxLatencyMs,
    string? Tier,
    string? User);

/// <summary>A chat message; <see cref="Content"/> is a string or an array of content parts (only text parts are read).</summary>
internal sealed record ChatMessageBody(ChatRole? Role, JsonElement Content, string? Name);

[JsonConverter(typeof(StrictEnumConverter<ChatRole>))]
internal enum ChatRole
{
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// <summary>
/// Enum values as exact snake_case strings only: an unknown string, another case or a bare number is a bad request
/// whose message lists what the field takes (the failure handler adds the field's name).
/// </summary>
internal sealed class StrictEnumConverter<TEnum> : JsonConverter<TEnum>
    where TEnum : struct, Enum
{
    public const string MessagePrefix = "must be one of: ";

    private static readonly (string Name, TEnum Value)[] Values =
        [.. Enum.GetValues<TEnum>().Select(v => (JsonNamingPolicy.SnakeCaseLower.ConvertName(v.ToString()), v))];

    private static readonly string Message = MessagePrefix + string.Join(", ", Values.Select(v => v.Name));

    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            foreach (var (name, value) in Values)
            {
                if (reader.ValueTextEquals(name))
                {
                    return value;
                }
            }
        }

        throw new JsonException(Message);
    }

    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options) =>
        writer.WriteStringValue(Array.Find(Values, v => EqualityComparer<TEnum>.Default.Equals(v.Value, value)).Name);
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(EmbeddingsBody))]
[JsonSerializable(typeof(ChatBody))]
[JsonSerializable(typeof(CoursesApi.StartBody))]
[JsonSerializable(typeof(RepositoryApi.IndexBody))]
[JsonSerializable(typeof(GrainInterfaces.Fleet.VersionFaults))]
[JsonSerializable(typeof(AdminApi.CreateKeyRequest))]
[JsonSerializable(typeof(GrainInterfaces.Budgets.BudgetLimits))]
[JsonSerializable(typeof(LifecycleApi.TrafficBody))]
[JsonSerializable(typeof(LifecycleApi.FeedbackBody))]
[JsonSerializable(typeof(LifecycleApi.ExperimentBody))]
[JsonSerializable(typeof(TenantsApi.CreateOrgBody))]
[JsonSerializable(typeof(TenantsApi.CreateTeamBody))]
[JsonSerializable(typeof(TenantsApi.UpdateTeamBody))]
[JsonSerializable(typeof(TenantUsersApi.UserBody))]
[JsonSerializable(typeof(TenantUsersApi.UserKeyBody))]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
