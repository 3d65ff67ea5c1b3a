// featuremap.frag: one channel of the selected layer, or the Grad-CAM heatmap, coloured by a colormap.
// uAtlas (R32F) holds the layer's [C, H, W] tensor as it lies in memory: a W x (C*H) image, channel c in rows
// c*H .. c*H+H-1. uRange (RG32F, one texel per channel) holds each channel's (min, max); in global mode the
// layer's min and max over all channels are used instead. vData.x = channel, vData.y = opacity.
// The heatmap is uAtlas too (a linearly filtered map in the texture's corner, values 0..1, global range 0..1): uUvClamp
// keeps the samples between its outermost texel centres, so no texel outside the map bleeds in and the edge values
// continue to the region's border.
#version 330 core
in vec2 vUv;
in vec4 vData;
uniform sampler2D uAtlas;
uniform sampler2D uRange;
uniform int uColormap;   // 0 viridis, 1 inferno, 2 gray
uniform int uGlobal;     // 1: normalise by the layer's global range
uniform vec2 uGlobalRange;
uniform vec4 uUvClamp;   // (u min, v min, u max, v max) of the samples
out vec4 fragColor;

// Matt Zucker's polynomial fits of matplotlib's viridis and inferno (CC0, shadertoy WlfXRN).
vec3 viridis(float t)
{
    const vec3 c0 = vec3(0.2777273272234177, 0.005407344544966578, 0.3340998053353061);
    const vec3 c1 = vec3(0.1050930431085774, 1.404613529898575, 1.384590162594685);
    const vec3 c2 = vec3(-0.3308618287255563, 0.214847559468213, 0.09509516302823659);
    const vec3 c3 = vec3(-4.634230498983486, -5.799100973351585, -19.33244095627987);
    const vec3 c4 = vec3(6.228269936347081, 14.17993336680509, 56.69055260068105);
    const vec3 c5 = vec3(4.776384997670288, -13.74514537774601, -65.35303263337234);
    const vec3 c6 = vec3(-5.435455855934631, 4.645852612178535, 26.3124352495832);
    return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
}

vec3 inferno(float t)
{
    const vec3 c0 = vec3(0.0002189403691192265, 0.001651004631001012, -0.01948089843709184);
    const vec3 c1 = vec3(0.1065134194856116, 0.5639564367884091, 3.932712388889277);
    const vec3 c2 = vec3(11.60249308247187, -3.972853965665698, -15.9423941062914);
    const vec3 c3 = vec3(-41.70399613139459, 17.43639888205313, 44.35414519872813);
    const vec3 c4 = vec3(77.162935699427, -33.40235894210092, -81.80730925738993);
    const vec3 c5 = vec3(-71.31942824499214, 32.62606426397723, 73.20951985803202);
    const vec3 c6 = vec3(25.13112622477341, -12.24266895238567, -23.07032500287172);
    return c0 + t * (c1 + t * (c2 + t * (c3 + t * (c4 + t * (c5 + t * c6)))));
}

void main()
{
    float value = texture(uAtlas, clamp(vUv, uUvClamp.xy, uUvClamp.zw)).r;
    vec2 range = uGlobal == 1 ? uGlobalRange : texelFetch(uRange, ivec2(int(vData.x + 0.5), 0), 0).rg;
    float span = range.y - range.x;
    // A constant channel (span 0, e.g. all zeros after ReLU) shows as the colormap's low end, not noise.
    float t = span > 1e-20 ? clamp((value - range.x) / span, 0.0, 1.0) : 0.0;
    vec3 rgb = uColormap == 0 ? viridis(t) : uColormap == 1 ? inferno(t) : vec3(t);
    fragColor = vec4(clamp(rgb, 0.0, 1.0), vData.y);
}
