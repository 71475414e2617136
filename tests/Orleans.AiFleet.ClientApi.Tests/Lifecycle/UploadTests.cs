using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;

namespace Orleans.AiFleet.ClientApi.Tests.Lifecycle;

/// <summary>An embedded host on its own copy of digits ("uploads"), whose folder receives uploaded versions.</summary>
public sealed class UploadFixture() : ApiFixtureBase(Folder)
{
    public static readonly string Folder = TestRepository.Create("digits", ("uploads", c => c["replicas"] = System.Text.Json.Nodes.JsonNode.Parse(
        """{"minReplicas": 1, "maxReplicas": 2, "targetInFlightPerReplica": 32, "upscaleDelayMs": 1000, "downscaleDelayMs": 30000}""")));
}

/// <summary>A second host on the same folder: the embedded default restarted.</summary>
public sealed class RestartedUploadHost() : ApiFixtureBase(UploadFixture.Folder);

[CollectionDefinition(Name)]
public sealed class UploadCollection : ICollectionFixture<UploadFixture>
{
    public const string Name = "uploads";
}

/// <summary>
/// New versions at run time: an admin uploads an ONNX file (with config overrides and a reference profile); it is
/// checked against the model's declared inputs and outputs before it is accepted, stored with its content hash,
/// served, kept across a restart, and deleted only while it takes no traffic.
/// </summary>
[Collection(UploadCollection.Name)]
public sealed class UploadTests(UploadFixture fixture)
{
    private static readonly string Shipped = Path.Combine(TestRepository.Shipped, "digits");

    [Fact]
    public async Task AnUploadedVersion_IsHashedStoredWarmedAndServed_AndSurvivesARestart()
    {
        var onnx = await File.ReadAllBytesAsync(Path.Combine(Shipped, "2", "model.onnx"));

        using var response = await UploadAsync("3", onnx, config: """{"maxQueueDelayMs": 1}""", profile: await File.ReadAllTextAsync(Path.Combine(Shipped, "2", "profile.json")));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.JsonAsync();
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(onnx)), body.GetProperty("sha256").GetString());
        Assert.True(body.GetProperty("ready").GetBoolean());
        Assert.Contains("3", (await fixture.Http.GetFromJsonAsync<JsonElement>("/v2/models/uploads")).GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        using var answer = await fixture.Http.PostJsonAsync("/v2/models/uploads/versions/3/infer", KServe.DigitsBody(0));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal(Samples.Label(0), Samples.ArgMax(KServe.Floats(KServe.Output(await answer.JsonAsync(), "probabilities"))));

        // The embedded default's store is the repository folder: a new host on it serves the version too.
        IAsyncLifetime restarted = new RestartedUploadHost();
        await restarted.InitializeAsync();
        try
        {
            using var again = await ((RestartedUploadHost)restarted).Http.PostJsonAsync("/v2/models/uploads/versions/3/infer", KServe.DigitsBody(1));
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }
        finally
        {
            await restarted.DisposeAsync();
        }
    }

    [Fact]
    public async Task AFileThatIsNotTheModelsSignature_IsRefused_AndNothingOfItStays()
    {
        using var garbage = await UploadAsync("14", RandomNumberGenerator.GetBytes(4096));
        Assert.Equal(HttpStatusCode.BadRequest, garbage.StatusCode);
        Assert.Equal("model", (await garbage.JsonAsync()).GetProperty("field").GetString());

        var encoder = await File.ReadAllBytesAsync(Path.Combine(TestRepository.Shipped, "text-encoder", "1", "model.onnx"));
        using var wrongModel = await UploadAsync("15", encoder);
        Assert.Equal(HttpStatusCode.BadRequest, wrongModel.StatusCode);
        Assert.Contains("does not match", (await wrongModel.JsonAsync()).GetProperty("detail").GetString());

        Assert.False(Directory.Exists(Path.Combine(UploadFixture.Folder, "uploads", "14")));
        Assert.False(Directory.Exists(Path.Combine(UploadFixture.Folder, "uploads", "15")));
        Assert.DoesNotContain("15", (await fixture.Http.GetFromJsonAsync<JsonElement>("/v2/models/uploads")).GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
    }

    [Theory]
    [InlineData("1", null, null, HttpStatusCode.Conflict, "version")] // versions are immutable
    [InlineData("v2", null, null, HttpStatusCode.BadRequest, "version")]
    [InlineData("16", """{"inputs": []}""", null, HttpStatusCode.BadRequest, "config")]
    [InlineData("17", """{"maxQueueLength": -5}""", null, HttpStatusCode.BadRequest, "config")]
    [InlineData("18", null, """{"input": "pixels", "features": []}""", HttpStatusCode.BadRequest, "profile")]
    public async Task BadUploads_Are4xxNamingTheField(string version, string? config, string? profile, HttpStatusCode status, string field)
    {
        using var response = await UploadAsync(version, await File.ReadAllBytesAsync(Path.Combine(Shipped, "1", "model.onnx")), config, profile);

        Assert.Equal(status, response.StatusCode);
        Assert.Equal(field, (await response.JsonAsync()).GetProperty("field").GetString());
    }

    [Fact]
    public async Task AVersionThatTakesTraffic_CannotBeDeleted_NorAShippedOne()
    {
        Assert.Equal(HttpStatusCode.Created, (await UploadAsync("7", await File.ReadAllBytesAsync(Path.Combine(Shipped, "1", "model.onnx")))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync("/v1/admin/models/uploads/traffic",
            new { defaultVersion = "2", split = new[] { new { version = "7", percent = 10.0 }, new { version = "2", percent = 90.0 } } })).StatusCode);

        Assert.Equal(HttpStatusCode.Conflict, (await fixture.Http.DeleteAsync("/v1/admin/models/uploads/versions/7")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await fixture.Http.DeleteAsync("/v1/admin/models/uploads/versions/1")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await fixture.Http.PutAsJsonAsync("/v1/admin/models/uploads/traffic", new { defaultVersion = "2" })).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await fixture.Http.DeleteAsync("/v1/admin/models/uploads/versions/7")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await fixture.Http.PostJsonAsync("/v2/models/uploads/versions/7/infer", KServe.DigitsBody(0))).StatusCode);
        Assert.False(Directory.Exists(Path.Combine(UploadFixture.Folder, "uploads", "7")));
    }

    [Fact]
    public async Task OnlyAdminsUpload()
    {
        using var user = fixture.Client(await fixture.NewUserKeyAsync("upload-user"));
        using var form = Form(await File.ReadAllBytesAsync(Path.Combine(Shipped, "1", "model.onnx")), null, null);

        Assert.Equal(HttpStatusCode.Forbidden, (await user.PutAsync("/v1/admin/models/uploads/versions/19", form)).StatusCode);
    }

    private Task<HttpResponseMessage> UploadAsync(string version, byte[] onnx, string? config = null, string? profile = null) =>
        fixture.Http.PutAsync($"/v1/admin/models/uploads/versions/{version}", Form(onnx, config, profile));

    private static MultipartFormDataContent Form(byte[] onnx, string? config, string? profile)
    {
        var form = new MultipartFormDataContent { { new ByteArrayContent(onnx), "model", "model.onnx" } };
        if (config is not null)
        {
            form.Add(new StringContent(config), "config");
        }

        if (profile is not null)
        {
            form.Add(new StringContent(profile), "profile");
        }

        return form;
    }
}
