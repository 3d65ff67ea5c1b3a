// camera.frag: the camera frame (uploaded as BGR bytes into an RGB texture); vData.a fades it.
#version 330 core
in vec2 vUv;
in vec4 vData;
uniform sampler2D uFrame;
out vec4 fragColor;

void main()
{
    fragColor = vec4(texture(uFrame, vUv).rgb * vData.rgb, vData.a);
}
