using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Orleans.AiFleet.ClientApi.Tests.Fuzz;

/// <summary>Every route with a valid request to start from, and how each part of it may be mutated.</summary>
internal sealed record Routes(string Method, Func<Mutator, string> Path, JsonNode? Body, bool Admin)
{
    /// <summary>The organization and class the tenant routes start from (made before the run).</summary>
    public const string FuzzOrg = "fuzz-org";
    public const string FuzzTeam = "fuzz-team";

    public static Routes[] All()
    {
        var digits = KServe.DigitsBody(0);
        var encoder = JsonNode.Parse("""{"inputs":[{"name":"input_ids","shape":[1,4],"datatype":"INT64","data":[2,50,60,3]},{"name":"attention_mask","shape":[1,4],"datatype":"INT64","data":[1,1,1,1]}],"outputs":[{"name":"sentence_embedding"}]}""")!;
        var embeddings = JsonNode.Parse("""{"model":"text-encoder","input":["In the beginning","was the Word"],"encoding_format":"float"}""")!;
        var chat = JsonNode.Parse("""{"model":"chat-lm","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"Let there be"}]}],"max_tokens":2,"temperature":0.5,"seed":1,"stream":false}""")!;
        var auto = JsonNode.Parse("""{"model":"auto","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"min_quality":0.8,"max_latency_ms":500,"tier":"budget"}""")!;
        var course = JsonNode.Parse("""{"subject":"Stars","level":"beginner","lessons":2,"language":"English","model":"chat-lm","min_quality":0.5,"budget_ceiling":0.01,"lesson_tokens":8}""")!;
        var key = JsonNode.Parse("""{"user":"fuzz-made","role":"user","name":"laptop","tier":"free"}""")!;
        var budget = JsonNode.Parse("""{"perRequest":0.05,"daily":2.5,"monthly":40,"requestsPerMinute":600,"tokensPerMinute":100000,"maxParallel":8}""")!;
        var org = JsonNode.Parse("""{"id":"fuzz-made-org","name":"A school"}""")!;
        var team = JsonNode.Parse("""{"id":"fuzz-class","name":"Class 1","memberDefault":{"daily":1.5,"requestsPerMinute":60}}""")!;
        var teamChange = JsonNode.Parse("""{"name":"Class 1 renamed","memberDefault":{"daily":2}}""")!;
        var user = JsonNode.Parse("""{"name":"A student","role":"member","teams":["fuzz-team"],"tier":"free"}""")!;
        var userKey = JsonNode.Parse("""{"name":"laptop","team":"fuzz-team","models":["digits","text-encoder"]}""")!;
        // Hostile text in a path or query as a client sends it: percent-encoded.
        string Text(Mutator m) => Uri.EscapeDataString(m.HostileText());
        string Model(Mutator m) => m.Next(3) switch { 0 => "digits", 1 => "text-encoder", _ => Text(m) };
        string Id(Mutator m) => m.Next(2) == 0 ? "saga_" + Guid.NewGuid().ToString("N") : Text(m);
        string Day(Mutator m) => m.Next(2) == 0 ? "2026-11-01" : Text(m);
        return
        [
            new("POST", m => $"/v2/models/{(m.Next(4) == 0 ? Model(m) : "digits")}/infer", digits, Admin: false),
            new("POST", m => $"/v2/models/{(m.Next(4) == 0 ? Model(m) : "text-encoder")}/infer", encoder, Admin: false),
            new("POST", m => $"/v2/models/digits/versions/{(m.Next(2) == 0 ? "1" : Text(m))}/infer", digits, Admin: true),
            new("POST", m => "/v2/models/digits/infer", digits, Admin: true),
            new("GET", m => $"/v2/models/{Model(m)}", null, Admin: false),
            new("GET", m => $"/v2/models/{Model(m)}/versions/{Text(m)}/ready", null, Admin: false),
            new("POST", m => "/v1/embeddings", embeddings, Admin: false),
            new("POST", m => "/v1/chat/completions", chat, Admin: false),
            new("POST", m => "/v1/chat/completions", auto, Admin: false),
            new("GET", m => $"/v1/models/{Model(m)}", null, Admin: false),
            new("POST", m => "/v1/courses", course, Admin: false),
            new("GET", m => $"/v1/courses/jobs/{Id(m)}", null, Admin: false),
            new("POST", m => $"/v1/courses/jobs/{Id(m)}/cancel", null, Admin: false),
            new("GET", m => $"/v1/courses?offset={Text(m)}&limit={m.Next(200) - 50}", null, Admin: false),
            new("GET", m => $"/v1/courses/{Text(m)}", null, Admin: false),
            new("GET", m => $"/v1/usage?from={Day(m)}&to={Day(m)}", null, Admin: false),
            new("GET", m => "/v1/budget", null, Admin: false),
            new("POST", m => "/v1/admin/keys", key, Admin: true),
            new("DELETE", m => $"/v1/admin/keys/{Text(m)}", null, Admin: true),
            new("PUT", m => $"/v1/admin/budgets/{(m.Next(2) == 0 ? "fuzz-other" : Text(m))}", budget, Admin: true),
            new("GET", m => $"/v1/admin/budgets/{Text(m)}", null, Admin: true),
            new("GET", m => $"/v1/admin/usage?from={Day(m)}", null, Admin: true),
            new("GET", m => $"/v1/fleet/{Model(m)}", null, Admin: true),
            new("POST", m => "/v1/admin/orgs", org, Admin: true),
            new("GET", m => $"/v1/admin/orgs?after={Text(m)}&limit={m.Next(1000) - 100}", null, Admin: true),
            new("GET", m => $"/v1/admin/orgs/{(m.Next(2) == 0 ? FuzzOrg : Text(m))}", null, Admin: true),
            new("POST", m => $"/v1/admin/orgs/{(m.Next(4) == 0 ? Text(m) : FuzzOrg)}/teams", team, Admin: true),
            new("PATCH", m => $"/v1/admin/orgs/{FuzzOrg}/teams/{(m.Next(2) == 0 ? FuzzTeam : Text(m))}", teamChange, Admin: true),
            new("DELETE", m => $"/v1/admin/orgs/{FuzzOrg}/teams/{(m.Next(3) == 0 ? FuzzTeam : Text(m))}", null, Admin: true),
            new("GET", m => $"/v1/admin/orgs/{FuzzOrg}/teams/{(m.Next(2) == 0 ? FuzzTeam : Text(m))}/members?after={Text(m)}&limit={m.Next(600)}", null, Admin: true),
            new("PUT", m => $"/v1/admin/orgs/{FuzzOrg}/users/{(m.Next(2) == 0 ? "fuzz-student" : Text(m))}", user, Admin: true),
            new("GET", m => $"/v1/admin/orgs/{FuzzOrg}/users?after={Text(m)}&limit={m.Next(600)}", null, Admin: true),
            new("POST", m => $"/v1/admin/orgs/{FuzzOrg}/users/{(m.Next(2) == 0 ? "fuzz-student" : Text(m))}/keys", userKey, Admin: true),
            new("PUT", m => $"/v1/admin/orgs/{FuzzOrg}/users/{(m.Next(2) == 0 ? "fuzz-student" : Text(m))}/budget", budget, Admin: true),
            new("PUT", m => $"/v1/admin/orgs/{(m.Next(4) == 0 ? Text(m) : FuzzOrg)}/budget", budget, Admin: true),
            new("GET", m => $"/v1/admin/orgs/{(m.Next(4) == 0 ? Text(m) : FuzzOrg)}/budget", null, Admin: true),
            new("PUT", m => $"/v1/admin/orgs/{FuzzOrg}/teams/{(m.Next(2) == 0 ? FuzzTeam : Text(m))}/budget", budget, Admin: true),
            new("GET", m => $"/v1/admin/orgs/{FuzzOrg}/teams/{(m.Next(2) == 0 ? FuzzTeam : Text(m))}/budget", null, Admin: true),
            new("POST", m => "/signin", null, Admin: false),
            new("GET", m => $"/{Text(m)}", null, Admin: false),
        ];
    }

    /// <summary>The request, its body mutated, and now and then its key, content type or headers.</summary>
    public HttpRequestMessage Build(Mutator m, string userKey)
    {
        var path = Path(m);
        var request = new HttpRequestMessage(new HttpMethod(Method), new Uri(path, UriKind.Relative));
        if (Body is not null)
        {
            var bytes = m.Next(10) == 0 ? Encoding.UTF8.GetBytes(Body.ToJsonString()) : m.Mutate(Body);
            request.Content = new ByteArrayContent(bytes);
            request.Content.Headers.ContentType = m.Next(25) == 0 ? new MediaTypeHeaderValue("text/plain") : new MediaTypeHeaderValue("application/json");
        }
        else if (Method == "POST" && path == "/signin")
        {
            request.Content = new FormUrlEncodedContent(new Dictionary<string, string> { ["key"] = m.HostileText(), ["returnUrl"] = m.HostileText() });
        }

        var key = Admin ? TestKeys.Admin : userKey;
        switch (m.Next(20))
        {
            case 0: break; // no key
            case 1: request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + Ascii(m.HostileText())); break;
            case 2: request.Headers.TryAddWithoutValidation("Authorization", Ascii(m.HostileText())); break;
            default: request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key); break;
        }

        if (m.Next(8) == 0)
        {
            var header = m.Next(4) switch { 0 => "Idempotency-Key", 1 => "x-aifleet-min-quality", 2 => "x-aifleet-max-latency-ms", _ => "x-aifleet-tier" };
            request.Headers.TryAddWithoutValidation(header, Ascii(m.HostileText()));
        }

        return request;
    }

    /// <summary>
    /// Header values go out as ASCII (HttpClient refuses anything else), control characters included but CR and LF:
    /// a raw line break would end the header early and the rest of it would be read as the connection's next request,
    /// so the 400 Kestrel rightly gives it would land on an innocent request sent after it.
    /// </summary>
    private static string Ascii(string text) => new(text.Select(c => c < 128 && c is not ('\r' or '\n') ? c : '?').ToArray());

    /// <summary>
    /// A request Kestrel itself refuses before any route sees it (a control character in a header, a NUL in the
    /// path): HTTP answers it with a bare 400, as it must, in no route's protocol.
    /// </summary>
    public static bool IsMalformedHttp(HttpRequestMessage request) =>
        request.RequestUri!.OriginalString.Contains("%00", StringComparison.Ordinal)
        || request.Headers.Any(h => h.Value.Any(v => v.Any(c => c < ' ' && c != '\t')));

    /// <summary>Whether <paramref name="path"/> is <paramref name="prefix"/> or below it, segment by segment, as the server decides.</summary>
    private static bool Under(string path, string prefix) =>
        path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal);

    /// <summary>Whether an error body is in the shape of the protocol its route speaks.</summary>
    public static bool IsErrorShape(string path, string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            // KServe's shape for /v2 and everything under /v2/, routes or not; "/v2oK" is no KServe path.
            if (Under(path, "/v2"))
            {
                return root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String;
            }

            if (Under(path, "/v1/models") || Under(path, "/v1/chat") || Under(path, "/v1/embeddings"))
            {
                return root.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.Object && e.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.String;
            }

            return root.TryGetProperty("status", out var status) && status.ValueKind == JsonValueKind.Number
                && (root.TryGetProperty("detail", out _) || root.TryGetProperty("title", out _));
        }
        catch (JsonException)
        {
            // The sign-in page answers a refused key with itself (HTML), as a browser expects.
            return path == "/signin" && body.Contains("<form", StringComparison.Ordinal);
        }
    }
}
