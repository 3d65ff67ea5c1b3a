// hud.frag: text and filled rectangles of the overlay. The font atlas is one channel (coverage); solid
// rectangles sample its all-white cell. vData is the colour with alpha.
#version 330 core
in vec2 vUv;
in vec4 vData;
uniform sampler2D uFont;
out vec4 fragColor;

void main()
{
    fragColor = vec4(vData.rgb, vData.a * texture(uFont, vUv).r);
}
