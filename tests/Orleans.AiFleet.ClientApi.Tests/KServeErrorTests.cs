using System.Net;

namespace Orleans.AiFleet.ClientApi.Tests;

/// <summary>Every kind of bad request gets the protocol's {"error": ...} naming the problem, never a 500.</summary>
[Collection(ApiCollection.Name)]
public sealed class KServeErrorTests(ApiFixture fixture)
{
    private const string Pixels64 = "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]";

    public static TheoryData<string, string, string> BadInferBodies => new()
    {
        { "empty body", "", "the request body is empty" },
        { "not JSON", "{bad", "the request body is not valid JSON" },
        { "not an object", "[1,2]", "must be a JSON object" },
        { "no inputs", "{}", "'inputs' is required" },
        { "inputs empty", "{\"inputs\":[]}", "'inputs' is required" },
        { "input without name", "{\"inputs\":[{\"shape\":[1,64],\"datatype\":\"FP32\",\"data\":" + Pixels64 + "}]}", "inputs[0] needs a string 'name'" },
        { "unsupported datatype", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,64],\"datatype\":\"FP16\",\"data\":" + Pixels64 + "}]}", "has datatype 'FP16', which this server does not support (FP32, INT64)" },
        { "no datatype", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,64],\"data\":" + Pixels64 + "}]}", "input 'pixels' needs a 'datatype'" },
        { "no shape", "{\"inputs\":[{\"name\":\"pixels\",\"datatype\":\"FP32\",\"data\":" + Pixels64 + "}]}", "input 'pixels' needs a 'shape'" },
        { "negative dimension", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[-1,64],\"datatype\":\"FP32\",\"data\":" + Pixels64 + "}]}", "dimensions are non-negative integers" },
        { "no data", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,64],\"datatype\":\"FP32\"}]}", "input 'pixels' needs 'data'" },
        { "string in data", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,\"x\"]}]}", "has \"x\" in 'data'; its datatype takes numbers" },
        { "fraction in INT64", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,1],\"datatype\":\"INT64\",\"data\":[1.5]}]}", "has 1.5 in 'data'; its datatype takes integers" },
        { "data shorter than shape", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,64],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}", "has 3 values in 'data'; shape [1,64] needs 64" },
        { "wrong datatype for model", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,64],\"datatype\":\"INT64\",\"data\":" + Pixels64 + "}]}", "has datatype INT64; the model expects FP32" },
        { "wrong shape for model", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[2,32],\"datatype\":\"FP32\",\"data\":" + Pixels64 + "}]}", "has shape [2,32]; the model expects [-1,64]" },
        { "wrong rank for model", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[64],\"datatype\":\"FP32\",\"data\":" + Pixels64 + "}]}", "the model expects rank 2" },
        { "unknown input", "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,64],\"datatype\":\"FP32\",\"data\":" + Pixels64 + "}]}", "model 'digits' has no input 'image'" },
        { "unknown output", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,64],\"datatype\":\"FP32\",\"data\":" + Pixels64 + "}],\"outputs\":[{\"name\":\"scores\"}]}", "model 'digits' has no output 'scores'" },
        { "output without name", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,64],\"datatype\":\"FP32\",\"data\":" + Pixels64 + "}],\"outputs\":[{}]}", "each entry of 'outputs' needs a string 'name'" },
        { "id not a string", "{\"id\":5,\"inputs\":[]}", "'id' must be a string" },
        { "content after the object", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,64],\"datatype\":\"FP32\",\"data\":" + Pixels64 + "}]} x", "the request body is not valid JSON" },
        { "input not an object", "{\"inputs\":[5]}", "inputs[0] must be an object" },
        { "object in data", "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[1,1],\"datatype\":\"FP32\",\"data\":[{}]}]}", "has an object in 'data'" },
    };

    [Theory]
    [MemberData(nameof(BadInferBodies))]
    public async Task Infer_BadBody_Returns400NamingTheProblem(string scenario, string body, string expected)
    {
        var response = await fixture.Http.PostRawAsync("/v2/models/digits/infer", body);

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{scenario}: got {(int)response.StatusCode}");
        var message = (await response.JsonAsync()).GetProperty("error").GetString()!;
        Assert.True(message.Contains(expected, StringComparison.Ordinal), $"{scenario}: '{message}' should contain '{expected}'");
    }

    [Fact]
    public async Task Infer_TooManyRows_Returns400NamingMaxBatchSize()
    {
        var response = await fixture.Http.PostJsonAsync("/v2/models/digits/infer", KServe.DigitsBody(0, rows: 65 > Samples.DigitCount ? Samples.DigitCount : 65));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // 32 rows fit

        var body = "{\"inputs\":[{\"name\":\"pixels\",\"shape\":[65,64],\"datatype\":\"FP32\",\"data\":[" + string.Join(",", Enumerable.Repeat("0", 65 * 64)) + "]}]}";
        var tooMany = await fixture.Http.PostRawAsync("/v2/models/digits/infer", body);
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        Assert.Contains("takes at most 64 (maxBatchSize)", (await tooMany.JsonAsync()).GetProperty("error").GetString());
    }

    [Fact]
    public async Task Infer_MissingSecondInput_Returns400NamingIt()
    {
        var response = await fixture.Http.PostRawAsync("/v2/models/text-encoder/infer",
            "{\"inputs\":[{\"name\":\"input_ids\",\"shape\":[1,3],\"datatype\":\"INT64\",\"data\":[2,50,3]}]}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("missing input 'attention_mask'", (await response.JsonAsync()).GetProperty("error").GetString());
    }

    [Fact]
    public async Task Infer_TokenIdOutsideVocabulary_Returns400NamingTheValue_NotTheGraphsInternals()
    {
        var response = await fixture.Http.PostRawAsync("/v2/models/text-encoder/infer",
            "{\"inputs\":[{\"name\":\"input_ids\",\"shape\":[1,3],\"datatype\":\"INT64\",\"data\":[2,99999999,3]},{\"name\":\"attention_mask\",\"shape\":[1,3],\"datatype\":\"INT64\",\"data\":[1,1,1]}]}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = (await response.JsonAsync()).GetProperty("error").GetString()!;
        Assert.Equal("input 'input_ids' holds 99999999 at position 1; token ids must be from 0 to 4676 (vocabSize 4677)", error);
    }

    [Theory]
    [InlineData("GET", "/v2/models/nope", "model 'nope' is not in the repository")]
    [InlineData("GET", "/v2/models/digits/versions/9", "model 'digits' has no version '9' (it has 1, 2)")]
    [InlineData("GET", "/v2/models/nope/ready", "model 'nope' is not in the repository")]
    [InlineData("GET", "/v2/models/digits/versions/9/ready", "model 'digits' has no version '9'")]
    [InlineData("POST", "/v2/models/nope/infer", "model 'nope' is not in the repository")]
    [InlineData("POST", "/v2/models/digits/versions/9/infer", "model 'digits' has no version '9' (it has 1, 2)")]
    public async Task UnknownModelOrVersion_Returns404NamingIt(string method, string path, string expected)
    {
        var response = method == "GET"
            ? await fixture.Http.GetAsync(path)
            : await fixture.Http.PostJsonAsync(path, KServe.DigitsBody(0));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal(expected, (await response.JsonAsync()).GetProperty("error").GetString());
    }
}
