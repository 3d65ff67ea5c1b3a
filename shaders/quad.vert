// quad.vert: every 2-D quad of the live window (camera picture, HUD, feature maps) in window pixels.
// Positions are framebuffer pixels with the origin at the top left; aData is free per-quad data the
// fragment shader interprets (a colour for the HUD, channel and opacity for feature maps).
#version 330 core
layout(location = 0) in vec2 aPos;
layout(location = 1) in vec2 aUv;
layout(location = 2) in vec4 aData;

uniform vec2 uViewport; // framebuffer size in pixels

out vec2 vUv;
out vec4 vData;

void main()
{
    vec2 ndc = vec2(aPos.x / uViewport.x * 2.0 - 1.0, 1.0 - aPos.y / uViewport.y * 2.0);
    gl_Position = vec4(ndc, 0.0, 1.0);
    vUv = aUv;
    vData = aData;
}
